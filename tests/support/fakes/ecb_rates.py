"""The European Central Bank's daily reference rates as its eurofxref-daily.xml serves them
(units of each currency per 1 EUR, one day's Cube), from a local server: FX_RATES_URL's peer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.harness import free_port

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time='{day}'>
{rows}
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
"""


def document(day: str, rates: dict[str, str]) -> str:
    rows = "\n".join(f"\t\t\t<Cube currency='{c}' rate='{r}'/>" for c, r in rates.items())
    return ENVELOPE.format(day=day, rows=rows)


@dataclass
class Ecb:
    url: str
    day: str = "2026-11-26"
    rates: dict[str, str] = field(default_factory=dict)
    status: int = 200
    asked: int = 0
    redirect: str = ""  # where a 302 sends the reader instead of the document, when set


@asynccontextmanager
async def ecb_server() -> AsyncIterator[Ecb]:
    port = free_port()
    ecb = Ecb(f"http://127.0.0.1:{port}/stats/eurofxref/eurofxref-daily.xml")
    ecb.rates = {"USD": "1.0545", "JPY": "161.93", "GBP": "0.83118", "CHF": "0.9316"}

    async def daily(request: web.Request) -> web.Response:
        ecb.asked += 1
        if ecb.redirect:
            raise web.HTTPFound(ecb.redirect)
        if ecb.status != 200:
            return web.Response(status=ecb.status, text="unavailable")
        return web.Response(text=document(ecb.day, ecb.rates), content_type="text/xml")

    app = web.Application()
    app.router.add_get("/stats/eurofxref/eurofxref-daily.xml", daily)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield ecb
    finally:
        await runner.cleanup()
