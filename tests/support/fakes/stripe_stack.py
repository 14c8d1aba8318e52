"""localstripe, a stateful Stripe test server, as a subprocess; and a small front speaking
Stripe's wire format for what localstripe lacks (Checkout and portal sessions, Stripe Tax).

The gateway's STRIPE_API_BASE points at the front. The front answers /v1/checkout/sessions,
/v1/billing_portal/sessions and /v1/tax/calculations (stripe_tax.py) itself and passes every
other /v1 call through to localstripe unchanged. Completing a checkout (`complete`) does what
Stripe's hosted page does: it creates and attaches the card in localstripe, then pays (a
PaymentIntent), saves (a SetupIntent) or subscribes, so localstripe sends its own signed
webhooks; the front then sends the signed `checkout.session.completed`.

localstripe's webhook is registered to the front's /_hooks, which records each delivery
(body and Stripe-Signature exactly as sent) and forwards it to the gateway while `forward` is
on, so a test can replay, reorder or tamper with real signed events. Persistence to
/tmp/localstripe.pickle is switched off in the child: parallel test runs would share that
file, and pickling the whole store on every write only costs time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import stripe
from aiohttp import web

from tests.support.fakes import stripe_tax
from tests.support.harness import Gateway, die_with_parent, free_port, listen, running_gateway

API_KEY = "sk_test_meterway_localstripe"
OLD_SECRET = "whsec_meterway_old_0123456789"
NEW_SECRET = "whsec_meterway_new_9876543210"
PLANS = {"price_starter_monthly": 2000, "price_pro_monthly": 20000}
CARD_OK = "4242424242424242"
CARD_DECLINED = "4000000000000341"  # attaches, every charge is declined
CARD_3DS = "4000002500003155"  # every charge asks for authentication
CHILD = (
    "import sys, runpy, localstripe.resources as r; r.Store.dump_to_disk = lambda self: None; "
    "runpy.run_path(sys.argv[2]); "
    "sys.argv = ['localstripe', '--port', sys.argv[1], '--from-scratch']; "
    "from localstripe.server import start; start()"
)
# Stripe Invoicing's finalize and send, which localstripe lacks, added in its process.
INVOICING = Path(__file__).with_name("localstripe_invoicing.py")


@dataclass(frozen=True)
class Delivery:
    """One webhook as it was signed: replayable byte for byte."""

    type: str
    object_id: str
    body: bytes
    signature: str


def sign(body: bytes, secret: str, at: int | None = None) -> str:
    stamp = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), b"%d." % stamp + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def url_rule_breaks(param: str, url: str) -> list[str]:
    """What real Stripe would refuse in a URL parameter (`url_invalid`, "Not a valid URL"):
    it must be an absolute http(s) URL of at most 5,000 characters; success_url may carry
    the literal {CHECKOUT_SESSION_ID} template, which Stripe fills in. localstripe checks
    none of this, so the tests do."""
    breaks = []
    parts = urlsplit(url.replace("{CHECKOUT_SESSION_ID}", "cs") if param == "success_url" else url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        breaks.append(f"{param} is not an absolute http(s) URL: {url[:80]!r}")
    if len(url) > 5000:
        breaks.append(f"{param} is {len(url)} characters, over 5,000")
    if any(c.isspace() or c in '{}<>"' for c in parts.geturl()):
        breaks.append(f"{param} has characters a URL cannot: {url[:80]!r}")
    return breaks


def unflatten(form: Any) -> dict[str, Any]:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    out: dict[str, Any] = {}
    for key, value in form.items():
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(out)  # type: ignore[no-any-return]


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


@dataclass
class StripeStack:
    localstripe: str
    api_base: str = ""
    secret: str = OLD_SECRET
    target: str | None = None  # the gateway's /webhooks/stripe, while forwarding
    forward: bool = True
    deliveries: list[Delivery] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Every URL parameter the gateway sent to Checkout or the portal, as (param, value):
    # localstripe would take a path, real Stripe refuses it (tests hold them to its rules).
    urls_sent: list[tuple[str, str]] = field(default_factory=list)
    client: Any = None
    http: aiohttp.ClientSession | None = None

    def env(self, public_url: str) -> dict[str, str]:
        """The gateway's settings for this stack: both secrets, the new one first; Stripe
        needs the gateway's PUBLIC_URL to send people back to."""
        return {
            "PUBLIC_URL": public_url,
            "PAYMENTS_PROVIDER": "stripe",
            "STRIPE_API_KEY": API_KEY,
            "STRIPE_WEBHOOK_SECRET": f"{NEW_SECRET},{OLD_SECRET}",
            "STRIPE_API_BASE": self.api_base,
        }

    async def reset(self, target: str) -> None:
        """A clean localstripe with the plans' prices, webhooks to `target`, the old secret."""
        assert self.http is not None
        async with self.http.delete(self.localstripe + "/_config/data") as r:
            assert r.status == 200
        self.deliveries.clear()
        self.sessions.clear()
        self.urls_sent.clear()
        self.forward, self.target = True, target
        await self.use_secret(OLD_SECRET)
        for price, cents in PLANS.items():
            await self.client.v1.plans.create_async(
                params={
                    "id": price,
                    "amount": cents,
                    "currency": "usd",
                    "interval": "month",
                    "product": {"name": price},
                }
            )

    async def use_secret(self, secret: str) -> None:
        """Sign localstripe's webhooks with `secret` from now on (a rotation)."""
        assert self.http is not None
        self.secret = secret
        form = {"url": self.api_base + "/_hooks", "secret": secret}
        async with self.http.post(self.localstripe + "/_config/webhooks/meterway", data=form) as r:
            assert r.status == 200, await r.text()

    async def deliver(self, body: bytes, signature: str | None) -> tuple[int, Any]:
        """POST one webhook to the gateway as Stripe would."""
        assert self.http is not None and self.target is not None
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        async with self.http.post(self.target, data=body, headers=headers) as r:
            return r.status, await r.json()

    async def wait_for(self, type_: str, count: int = 1, timeout_s: float = 15) -> list[Delivery]:
        """Deliveries of `type_`, once at least `count` arrived (localstripe waits 1 s)."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [d for d in self.deliveries if d.type == type_]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [d.type for d in self.deliveries]
                raise TimeoutError(f"{count} x {type_} not delivered; saw {seen}")
            await asyncio.sleep(0.05)

    async def quiet(self, settle_s: float = 1.5) -> None:
        """Wait until localstripe has sent everything it scheduled (it sleeps 1 s each)."""
        seen = -1
        while seen != len(self.deliveries):
            seen = len(self.deliveries)
            await asyncio.sleep(settle_s)

    # ---- what Stripe's hosted pages would do

    async def card(self, customer: str, number: str) -> str:
        v1 = self.client.v1
        card = {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        pm = await v1.payment_methods.create_async(params={"type": "card", "card": card})
        await v1.payment_methods.attach_async(pm.id, params={"customer": customer})
        return str(pm.id)

    async def complete(self, session_id: str, number: str = CARD_OK) -> dict[str, Any]:
        """Pay, save or subscribe on a checkout page; then `checkout.session.completed`."""
        s = self.sessions[session_id]
        v1, customer = self.client.v1, s["customer"]
        pm = await self.card(customer, number)
        if s["mode"] == "payment":
            meta = s["payment_intent_data"].get("metadata", {})
            params = {"amount": s["amount_total"], "currency": "usd", "customer": customer}
            params |= {"payment_method": pm, "metadata": meta, "confirm": True}
            try:
                pi = await v1.payment_intents.create_async(params=params)
            except stripe.CardError as exc:
                assert exc.error is not None  # a card error carries Stripe's error object
                s["payment_intent"] = exc.error.payment_intent
                return s
            s["payment_intent"] = pi.id
            if pi.status != "succeeded":
                return s
        elif s["mode"] == "setup":
            seti = await v1.setup_intents.create_async(params={"customer": customer})
            await v1.setup_intents.confirm_async(seti.id, params={"payment_method": pm})
            s["setup_intent"] = seti.id
        else:
            settings = {"invoice_settings": {"default_payment_method": pm}}
            await v1.customers.update_async(customer, params=settings)
            meta = s["subscription_data"].get("metadata", {})
            items = [{"plan": s["line_items"][0]["price"]}]
            sub = await v1.subscriptions.create_async(
                params={"customer": customer, "items": items, "metadata": meta}
            )
            s["subscription"] = sub.id
        s |= {"status": "complete", "payment_status": "paid"}
        await self.send_event("checkout.session.completed", s)
        return s

    async def pay_invoice(self, invoice_id: str, number: str = CARD_OK) -> Any:
        """What Stripe's hosted invoice page does when the customer pays it with a card: the
        card becomes the customer's invoice method and pays (`invoice.paid` follows)."""
        v1 = self.client.v1
        invoice = await v1.invoices.retrieve_async(invoice_id)
        pm = await self.card(str(invoice.customer), number)
        settings = {"invoice_settings": {"default_payment_method": pm}}
        await v1.customers.update_async(str(invoice.customer), params=settings)
        return await v1.invoices.pay_async(invoice_id)

    async def send_event(self, type_: str, obj: dict[str, Any]) -> None:
        """An event of the front's own (Checkout), signed like localstripe's."""
        event = {
            "id": "evt_front_" + secrets.token_hex(8),
            "object": "event",
            "api_version": "2017-08-15",
            "created": int(time.time()),
            "livemode": False,
            "type": type_,
            "data": {"object": obj},
        }
        body = json.dumps(event).encode()
        await self._received(body, sign(body, self.secret))

    async def _received(self, body: bytes, signature: str) -> None:
        doc = json.loads(body)
        obj = doc["data"]["object"]
        self.deliveries.append(Delivery(doc["type"], str(obj.get("id")), body, signature))
        if self.forward and self.target is not None:
            await self.deliver(body, signature)

    # ---- the front's routes

    async def _pay_page(self, request: web.Request) -> web.Response:
        """Checkout's hosted page, reduced to a Pay button for a browser to press."""
        s = self.sessions.get(request.match_info["id"])
        if s is None:
            raise web.HTTPNotFound()
        html = (
            f"<!doctype html><title>Checkout</title><p>{s['mode']}: {s['amount_total']} cents</p>"
            "<form method=post><button id=pay>Pay</button></form>"
        )
        return web.Response(text=html, content_type="text/html")

    async def _pay(self, request: web.Request) -> web.Response:
        """Pressing Pay: the card is charged, then the browser goes to success_url with the
        session id filled in, as Stripe does."""
        sid = request.match_info["id"]
        done = await self.complete(sid)
        raise web.HTTPSeeOther(str(done["success_url"]).replace("{CHECKOUT_SESSION_ID}", sid))

    def _sent(self, form: dict[str, Any], *names: str) -> None:
        self.urls_sent.extend((n, str(form[n])) for n in names if n in form)

    async def _hooks(self, request: web.Request) -> web.Response:
        await self._received(await request.read(), request.headers["Stripe-Signature"])
        return web.Response()

    async def _create_session(self, request: web.Request) -> web.Response:
        form = unflatten(await request.post())
        self._sent(form, "success_url", "cancel_url", "return_url")
        sid = "cs_test_" + secrets.token_hex(12)
        items = form.get("line_items", [])
        amount = sum(
            int(i.get("price_data", {}).get("unit_amount", 0)) * int(i.get("quantity", 1))
            for i in items
        )
        self.sessions[sid] = {
            "id": sid,
            "object": "checkout.session",
            "mode": form["mode"],
            "customer": form["customer"],
            "metadata": form.get("metadata", {}),
            "line_items": items,
            "payment_intent_data": form.get("payment_intent_data", {}),
            "subscription_data": form.get("subscription_data", {}),
            "amount_total": amount,
            "currency": "usd",
            "status": "open",
            "payment_status": "unpaid",
            "url": f"{self.api_base}/pay/{sid}",
            "success_url": form.get("success_url"),
            "payment_intent": None,
            "setup_intent": None,
            "subscription": None,
            "created": int(time.time()),
        }
        return web.json_response(self.sessions[sid])

    async def _get_session(self, request: web.Request) -> web.Response:
        found = self.sessions.get(request.match_info["id"])
        if found is None:
            error = {"type": "invalid_request_error", "message": "No such checkout.session"}
            return web.json_response({"error": error}, status=404)
        return web.json_response(found)

    async def _portal(self, request: web.Request) -> web.Response:
        form = unflatten(await request.post())
        self._sent(form, "return_url")
        bps = "bps_" + secrets.token_hex(12)
        return web.json_response(
            {
                "id": bps,
                "object": "billing_portal.session",
                "customer": form["customer"],
                "return_url": form.get("return_url"),
                "url": f"{self.api_base}/portal/{bps}",
            }
        )

    async def _tax(self, request: web.Request) -> web.Response:
        return stripe_tax.calculate(unflatten(await request.post()))

    async def _pass(self, request: web.Request) -> web.Response:
        assert self.http is not None
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type", "idempotency-key")
        }
        async with self.http.request(
            request.method,
            self.localstripe + request.path_qs,
            data=await request.read(),
            headers=headers,
        ) as r:
            body = await r.read()
            return web.Response(body=body, status=r.status, content_type="application/json")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/_hooks", self._hooks)
        app.router.add_post("/v1/checkout/sessions", self._create_session)
        app.router.add_get("/v1/checkout/sessions/{id}", self._get_session)
        app.router.add_post("/v1/billing_portal/sessions", self._portal)
        app.router.add_post("/v1/tax/calculations", self._tax)
        app.router.add_get("/pay/{id}", self._pay_page)
        app.router.add_post("/pay/{id}", self._pay)
        app.router.add_route("*", "/v1/{tail:.*}", self._pass)
        return app


async def _ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(200):
            if proc.returncode is not None:
                raise RuntimeError("localstripe exited")
            try:
                async with http.get(
                    url + "/v1/balance", headers={"Authorization": f"Bearer {API_KEY}"}
                ):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise TimeoutError("localstripe did not start")


@asynccontextmanager
async def stripe_stack() -> AsyncIterator[StripeStack]:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        str(port),
        str(INVOICING),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    runner: web.AppRunner | None = None
    try:
        stack = StripeStack(f"http://127.0.0.1:{port}")
        await _ready(stack.localstripe, proc)
        stack.http = aiohttp.ClientSession()
        runner = web.AppRunner(stack.app(), access_log=None)
        await runner.setup()
        front = await listen(runner)
        stack.api_base = f"http://127.0.0.1:{front}"
        http_client = stripe.AIOHTTPClient()
        stack.client = stripe.StripeClient(
            API_KEY, base_addresses={"api": stack.localstripe}, http_client=http_client
        )
        try:
            yield stack
        finally:
            await http_client.close_async()  # type: ignore[no-untyped-call]
            await stack.http.close()
    finally:
        if runner is not None:
            await runner.cleanup()
        proc.kill()
        await proc.wait()


@asynccontextmanager
async def gateway_on(stack: StripeStack, dsn: str, **env: str) -> AsyncIterator[Gateway]:
    """A gateway paid through this stack (a clean localstripe, its webhooks to the gateway),
    with `env` besides; on leaving, every webhook localstripe scheduled is in and settled."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    await stack.reset(public + "/webhooks/stripe")
    settings = stack.env(public) | {"LISTEN_ADDR": f"127.0.0.1:{port}"} | env
    async with running_gateway(dsn, None, **settings) as gateway:
        yield gateway
        await stack.quiet()
        await gateway.settle_all()
