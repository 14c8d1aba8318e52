"""The fake Stripe (localstripe and its front, tests/support/fakes/stripe_stack.py), one per
test module: each test's gateway starts it clean (`gateway_on`, `StripeStack.reset`)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.fakes.stripe_stack import StripeStack, stripe_stack


@pytest.fixture(scope="module")
async def stack() -> AsyncIterator[StripeStack]:
    async with stripe_stack() as running:
        yield running
