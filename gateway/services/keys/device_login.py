"""`meterway login`: a device authorization in the spirit of RFC 8628.

The CLI asks for a device code (a secret it keeps) and a user code (short, shown to the
person); the person enters or confirms the user code in their signed-in dashboard and
approves; the CLI, polling with its device code, then receives a key minted for that
person. Only SHA-256 digests of both codes are kept (in the sign-in tickets' store), and no
token is stored anywhere: the key is minted by the poll that finds the approval, once.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from gateway.errors import DevicePending, DeviceRefused
from gateway.stores.ports import SigninTicketsPort

TTL_S = 600  # how long a device code may wait for its approval
AGENT_CHARS = 200  # of the starting client's User-Agent, shown on the approval page
INTERVAL_S = 2  # how often the CLI polls
# Consonants only, as RFC 8628 section 6.1 suggests: no words, nothing misread (0/O, 1/I).
ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _user_key(user_code: str) -> str:
    return _digest("device-user:" + normal_user_code(user_code))


def normal_user_code(raw: str) -> str:
    """A user code as typed (any case, with or without its dash) as it was issued."""
    letters = "".join(c for c in raw.upper() if c in ALPHABET)
    return f"{letters[:4]}-{letters[4:8]}" if len(letters) == 8 else ""


async def start(
    tickets: SigninTicketsPort, scopes: list[str], address: str = "", agent: str = ""
) -> tuple[str, str]:
    """A new (device code, user code) pair waiting for a person, with when and from where
    (client address, User-Agent) it was started: the approval page shows them, so a person
    tricked into entering someone else's code can see it is not their terminal."""
    device = secrets.token_urlsafe(32)
    user = "".join(secrets.choice(ALPHABET) for _ in range(8))
    user = f"{user[:4]}-{user[4:]}"
    until = int(time.time()) + TTL_S
    data: dict[str, object] = {
        "user_code": user,
        "scopes": scopes,
        "state": "pending",
        "until": until,
        "started_at": until - TTL_S,
        "address": address[:64],
        "agent": agent[:AGENT_CHARS],
    }
    await tickets.put(_digest(device), data, TTL_S)
    await tickets.put(_user_key(user), {"device": _digest(device)}, TTL_S)
    return device, user


async def waiting(tickets: SigninTicketsPort, user_code: str) -> dict[str, object] | None:
    """The request a user code names, while it waits for a decision."""
    pointer = await tickets.get(_user_key(user_code)) if normal_user_code(user_code) else None
    data = await tickets.get(str(pointer["device"])) if pointer else None
    return data if data is not None and data["state"] == "pending" else None


async def decide(
    tickets: SigninTicketsPort, user_code: str, member_id: str | None, account_id: str
) -> bool:
    """The person's answer: approved for `member_id` of `account_id`, or denied (None).
    False when the code is unknown, expired or decided already."""
    pointer = await tickets.take(_user_key(user_code)) if normal_user_code(user_code) else None
    data = await tickets.get(str(pointer["device"])) if pointer else None
    if pointer is None or data is None or data["state"] != "pending":
        return False
    left = int(str(data["until"])) - int(time.time())
    if left <= 0:
        return False
    state = "approved" if member_id else "denied"
    decided = data | {"state": state, "member_id": member_id or "", "account_id": account_id}
    await tickets.put(str(pointer["device"]), decided, left)
    return True


async def poll(tickets: SigninTicketsPort, device_code: str) -> dict[str, object]:
    """The approval, taken (one poll gets it); DevicePending while the person has not
    answered, DeviceRefused once denied, expired, unknown or taken."""
    found = _digest(device_code)
    data = await tickets.get(found)
    if data is not None and data["state"] == "pending":
        raise DevicePending("The person has not approved this code yet; poll again.")
    data = await tickets.take(found) if data is not None else None
    if data is None:
        raise DeviceRefused("This device code expired or was used; run `meterway login` again.")
    if data["state"] != "approved":
        raise DeviceRefused("The person denied this login.")
    return data
