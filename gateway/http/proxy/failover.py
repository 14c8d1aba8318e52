"""Opening a call to a model with several deployments: try its upstreams in order until one
answers, before a byte reaches the client.

A connection that could not be opened, a 429 or a 5xx (`RETRY_STATUSES`) cools that upstream
down and the next one is tried; the last one's failure is the client's answer, as a single
upstream's would be. Once an answer with another status is open, it is the call's: a stream
that fails later is never sent elsewhere. The call that comes back is priced at the
deployment that answered, and the reservation (made at the dearest) is settled at it.
"""

from __future__ import annotations

from aiohttp import web

from gateway.errors import UpstreamsCoolingDown, UpstreamUnreachable
from gateway.http.observe import timing
from gateway.llm.calls import Call
from gateway.llm.deployments import RETRY_STATUSES, Upstreams, retry_after_s
from gateway.llm.http1 import Answer
from gateway.llm.sending import send
from gateway.llm.upstream import Upstream
from gateway.services.settlement import Hold


async def open_deployed(
    request: web.Request, upstream: Upstream, upstreams: Upstreams, call: Call, hold: Hold
) -> tuple[Call, Answer]:
    """The call as served by the deployment that answered, and its open answer."""
    order = upstreams.order(call.deployments)
    if not order:
        wait = upstreams.soonest_s(call.deployments)
        raise UpstreamsCoolingDown(
            f"Every upstream of '{call.price.name}' is cooling down; nothing was sent.",
            retry_after_s=max(int(wait + 0.999), 1),
        )
    last = order[-1]
    for deployment in order:
        served = call.served_by(deployment)
        reached, hold.forwarded = hold.forwarded, True
        try:
            with timing(request).upstream():
                answer = await send(upstream, served, request.headers)
        except UpstreamUnreachable:
            hold.forwarded = reached  # nothing reached this one
            upstreams.failed(deployment, "connect")
            if deployment is last:
                raise
            continue
        if answer.status not in RETRY_STATUSES:
            return served, answer
        upstreams.failed(deployment, str(answer.status), retry_after_s(answer.headers))
        if deployment is last:
            return served, answer
        answer.close()
    raise AssertionError("unreachable: the last deployment returns or raises")
