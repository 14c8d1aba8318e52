"""Opening a call to a model with several deployments: try its upstreams in order until one
answers, before a byte reaches the client.

A connection that could not be opened, a 429 or a 5xx (`RETRY_STATUSES`) cools that upstream
down and the next one is tried; the last one's failure is the client's answer, as a single
upstream's would be. Once an answer with another status is open, it is the call's: a stream
that fails later is never sent elsewhere. The call that comes back is priced at the
deployment that answered, and the reservation (made at the dearest) is settled at it.
"""

from __future__ import annotations

import time

from aiohttp import web

from gateway.errors import UpstreamsCoolingDown, UpstreamUnreachable
from gateway.http.observability.observe import timing
from gateway.http.observability.span import Attempt, Traced
from gateway.llm.deployments import RETRY_STATUSES, Upstreams, retry_after_s
from gateway.llm.http1 import Answer
from gateway.llm.reading.calls import Call
from gateway.llm.sending import send
from gateway.llm.upstream import Upstream
from gateway.services.money.settlement import Hold


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
    traced = timing(request).traced
    for deployment in order:
        served = call.served_by(deployment)
        reached, hold.forwarded = hold.forwarded, True
        tried = _attempt(traced, served)
        try:
            with timing(request).upstream():
                answer = await send(upstream, served, request.headers)
        except UpstreamUnreachable:
            hold.forwarded = reached  # nothing reached this one
            upstreams.failed(deployment, "connect")
            _ended(tried, "connect", False)
            if deployment is last:
                raise
            continue
        if answer.status not in RETRY_STATUSES:
            _ended(tried, str(answer.status), True)
            return served, answer
        upstreams.failed(deployment, str(answer.status), retry_after_s(answer.headers))
        _ended(tried, str(answer.status), False)
        if deployment is last:
            return served, answer
        answer.close()
    raise AssertionError("unreachable: the last deployment returns or raises")


def _attempt(traced: Traced | None, served: Call) -> Attempt | None:
    """A child span of the request's for this try, when the request is traced (sampled)."""
    if traced is None or not traced.sampled:
        return None
    attempt = Attempt(time.time_ns(), served.price.provider, served.price.upstream_model)
    traced.more().attempts.append(attempt)
    return attempt


def _ended(attempt: Attempt | None, outcome: str, served: bool) -> None:
    """The try answered (`served`: its answer is the call's, open) or failed. A served
    attempt's span ends with the request's, when its answer has been read."""
    if attempt is not None:
        attempt.outcome, attempt.served = outcome, served
        if not served:
            attempt.end_ns = time.time_ns()
