"""What `meterway serve` refuses: development-only components nobody named.

`meterway dev` names what it runs itself (its fixed admin key, the local payment provider,
the demo upstream). Under `serve` each development-only component runs only when the
setting that admits it is given explicitly, in the environment or the TOML file; a default
never turns one on. The table is data, so it can be printed and tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gateway.config.settings import Settings

DEV_ADMIN_KEY = "dev-admin-key-change-me-in-production"
# `dev`'s database when DATABASE_URL is not set and a server answers on 127.0.0.1:5432.
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/meterway_dev"

# The raw value a setting was given explicitly (environment, then TOML), or None.
Explicit = Callable[[str], str | None]


@dataclass(frozen=True)
class DevComponent:
    what: str  # the component, for people
    setting: str  # the setting that admits it
    value: str | None  # the value that admits it; None: nothing admits it under serve
    in_use: Callable[[Settings], bool]


DEV_ONLY = (
    DevComponent(
        "`meterway dev`'s fixed admin key",
        "ADMIN_API_KEY",
        None,
        lambda s: s.admin_api_key == DEV_ADMIN_KEY,
    ),
    DevComponent(
        "the local payment provider (it pays top-ups without money)",
        "PAYMENTS_PROVIDER",
        "local",
        lambda s: s.payments.provider == "local",
    ),
    DevComponent(
        "the test clock (Redis's clock moved by hand, test headers sent upstream)",
        "MW_TEST_CLOCK",
        "1",
        lambda s: s.test_clock,
    ),
)


def _admitted(c: DevComponent, explicit: Explicit) -> bool:
    given = explicit(c.setting)
    return c.value is not None and given is not None and given.strip().lower() == c.value


def refusal(settings: Settings, explicit: Explicit) -> str | None:
    """The one line `serve` exits with for the first development-only component in use
    that no explicit setting admits; None when there is none."""
    for c in DEV_ONLY:
        if not c.in_use(settings) or _admitted(c, explicit):
            continue
        if c.value is None:
            return f"{c.what} is for development only; `serve` needs a {c.setting} of your own"
        return (
            f"{c.what} is for development only; `serve` runs it only when "
            f"{c.setting}={c.value} is set explicitly"
        )
    return None


def admitted(settings: Settings) -> list[str]:
    """The development-only components running (each admitted), for a warning at start."""
    return [f"{c.what}, admitted by {c.setting}" for c in DEV_ONLY if c.in_use(settings)]
