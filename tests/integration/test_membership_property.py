"""The one rule for joining and leaving an organization (services/members/joining.py), as a
property: random orders of a directory creating, renaming, deprovisioning, deleting and
reactivating people, owners and the operator inviting and removing them, organizations
proving and dropping domains (with a join role), owners trying to leave, and people signing
in by SAML with their NameID spelt three ways (the address, its capitals, a persistent
id), against real PostgreSQL and Redis. After every step:
- a person removed (by an owner or their directory) is a member there again only through
  their directory or an invitation;
- a member made in a step is in no domain another organization has proven, and a directory
  of an organization that proved domains makes members only of their people;
- a sign-in lands on the member its address already is, or is refused by name (never a
  store error);
- every organization keeps an owner;
- a member gone leaves no live key: their own nor the keys minted under them (PostgreSQL
  and Redis).
Each seed is a schedule of steps (`steps_of(seed)`), the same every run; a failure names its
seed, step and schedule, and `play(stores, steps_of(seed))` replays it. MEMBERSHIP_SEEDS
runs more seeds than CI's 40."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections import Counter
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from billing.members import domains
from gateway.errors import (
    DomainClaimed,
    DomainOutside,
    LastOwner,
    MemberConflict,
    MemberRemoved,
    NotFound,
    ScimUniqueness,
)
from gateway.services.auth import new_id
from gateway.services.keys.provisioning import KeySpec, issue_key
from gateway.services.members.domain_claims import holder_of, may_invite
from gateway.services.members.joining import Joining, Way, join, leave, may_accept, narrow
from gateway.services.members.scim import people
from gateway.services.members.scim.placement import Directory
from gateway.stores.connect import Stores
from gateway.stores.errors import DomainTaken, DuplicateMember, OnlyOwner
from gateway.stores.ports.hot import shard_of
from gateway.stores.records import Lineage, Row, minted_by_key

SEEDS = range(80)  # each a schedule of STEPS steps; more: MEMBERSHIP_SEEDS=500
STEPS = 30
IDP = "https://idp.example/"
ORGS, PEOPLE = 2, 3
REFUSED = (DomainClaimed, DomainOutside, LastOwner, MemberConflict, MemberRemoved, ScimUniqueness)
Kind = str | tuple[str, ...]
ACTIONS: dict[
    str, tuple[Kind, Kind, int]
] = {  # each step's name, how its two arguments are drawn, and how often it comes
    "create": ("org", "person", 3),
    "deprovision": ("org", "person", 2),
    "reactivate": ("org", "person", 2),
    "delete": ("org", "person", 1),
    "remove": ("org", "person", 2),
    "invite": ("org", "person", 1),
    "rename": ("person", ("a", "b", "free"), 1),
    "redomain": ("org", ("a", "b"), 1),
    "sign_in": ("person", ("email", "capitals", "persistent"), 6),
    "owner_leaves": ("org", ("remove", "demote"), 1),
}
Step = tuple[str, int, Any]


def steps_of(seed: int) -> list[Step]:
    """The seed's schedule: the same steps every run, on any machine."""
    rng = random.Random(seed)
    out: list[Step] = []
    names = sorted(ACTIONS)
    for _ in range(STEPS):
        (name,) = rng.choices(names, [ACTIONS[n][2] for n in names])
        drawn = [
            rng.randrange(ORGS) if kind == "org"
            else rng.randrange(PEOPLE) if kind == "person"
            else rng.choice(kind)
            for kind in ACTIONS[name][:2]
        ]  # fmt: skip
        out.append((name, int(drawn[0]), drawn[1]))
    return out


@dataclass
class World:
    """One case's organizations, domains and people, and what the model expects."""

    stores: Stores
    orgs: list[str]
    owners: list[str]
    domains: dict[str, str]  # "a", "b", "free" -> this case's domain name
    address: list[str]  # each person's current address (its domain's key)
    # (org, address) removed -> the NameIDs bound to it then: none of them joins back
    removed: dict[tuple[int, str], set[str]] = field(default_factory=dict)
    outcomes: Counter[str] = field(default_factory=Counter)  # what the steps came to
    keys: dict[str, list[str]] = field(default_factory=dict)  # member -> its keys

    @property
    def d(self) -> Directory:
        s = self.stores
        return Directory(s.scim(), s.members(), s.ledger, s.store, s.teams(), {}, s.domain_claims())

    def email(self, person: int) -> str:
        return f"p{person}@{self.domains[self.address[person]]}"

    def persistent_id(self, person: int) -> str:
        """The person's persistent NameID: this case's own, as a real provider's is the
        person's, so no earlier case (on the shared database) has bound it already."""
        return f"pid-{self.domains['a'].split('.')[0]}-{person}"


def person_of(row: Row) -> int | None:
    local = str(row["email"]).split("@")[0]
    return int(local[1:]) if local[:1] == "p" and local[1:].isdigit() else None


async def world(stores: Stores) -> World:
    orgs, owners = [], []
    for _ in range(ORGS):
        account = new_id("acct")
        await stores.ledger.create_account(account, account, "pro", "prepaid")
        owner = await stores.members().add(account, f"owner@{account}.test", IDP, account, "owner")
        orgs.append(account)
        owners.append(str(owner["id"]))
    tag = secrets.token_hex(4)
    names = {k: f"{k}{tag}.test" for k in ("a", "b", "free")}
    w = World(stores, orgs, owners, names, ["a", "b", "free"][:PEOPLE])
    await _redomain(w, 0, "a")  # org 0 starts with a proven domain and a join role
    return w


async def rows(w: World) -> dict[str, Row]:
    found: dict[str, Row] = {}
    for account in w.orgs:
        found |= {str(r["id"]): r for r in await w.stores.members().of_account(account)}
    return found


async def scim_user(w: World, org: int, person: int) -> Row | None:
    users = await w.stores.scim().users(w.orgs[org])
    return next((u for u in users if u["user_name"].startswith(f"p{person}@")), None)


async def _scim(w: World, step: Step) -> None:
    action, org, person = step
    user = await scim_user(w, org, person)
    if action == "create" and user is None:
        body = {"userName": w.email(person), "active": True}
        await people.create(w.d, w.orgs[org], body)
        restored(w, org, w.email(person))
    elif action in ("deprovision", "reactivate") and user is not None:
        active = action == "reactivate"
        if user["active"] != active:
            await people.update(w.d, user, {**people.as_resource(user), "active": active})
            if active:
                restored(w, org, user["email"])
    elif action == "delete" and user is not None:
        await people.delete(w.d, user)


def restored(w: World, org: int, email: str) -> None:
    """The directory or an invitation brought the address back: its removal is lifted."""
    w.removed.pop((org, email.lower()), None)


async def _remove(w: World, org: int, person: int) -> None:
    for row in (await rows(w)).values():
        if row["account_id"] == w.orgs[org] and person_of(row) == person:
            s = w.stores
            await leave(s.members(), s.ledger, s.store, w.orgs[org], str(row["id"]))


async def _invite(w: World, org: int, person: int) -> None:
    """The operator invites the person and they accept, bound to their NameID."""
    members, claims = w.stores.members(), w.stores.domain_claims()
    email = w.email(person)
    await may_invite(claims, w.orgs[org], email)
    try:
        row = await members.add(w.orgs[org], email, role="member", accept_digest=new_id("d"))
    except DuplicateMember:  # a member of this address already: nothing to invite
        return
    await may_accept(members, claims, row)
    await members.accept(str(row["id"]), email)
    restored(w, org, email)


async def _redomain(w: World, org: int, key: str) -> None:
    claims, domain = w.stores.domain_claims(), w.domains[key]
    held = await claims.holder(domain)
    if held is not None and held["account_id"] == w.orgs[org]:
        await claims.remove(w.orgs[org], domain)
    elif held is None:
        await claims.claim(w.orgs[org], domain, "t", "member")
        try:
            await claims.proven(w.orgs[org], domain)
        except DomainTaken:
            await claims.remove(w.orgs[org], domain)


async def _rename(w: World, person: int, key: str) -> None:
    """The person's address changes at their identity provider and in their directories;
    a deprovisioned person's removal follows their address."""
    old, w.address[person] = w.email(person), key
    for org in range(ORGS):
        user = await scim_user(w, org, person)
        if user is None:
            continue
        body = {**people.as_resource(user), "userName": w.email(person)}
        try:
            await people.update(w.d, user, body)
        except REFUSED:
            continue
        if not user["active"] and (org, old) in w.removed:
            w.removed[(org, w.email(person))] = set(w.removed[(org, old)])


async def _sign_in(w: World, person: int, style: str) -> None:
    """A SAML sign-in as dashboard/entry.land does it: the member the NameID is bound to,
    else (no invitation waiting) just-in-time by the domain's join role."""
    members, claims = w.stores.members(), w.stores.domain_claims()
    email = w.email(person)
    styles = {"email": email, "capitals": email.upper(), "persistent": w.persistent_id(person)}
    subject = styles[style]
    if await members.by_subject(IDP, subject) is not None:
        return
    if await members.unbound_by_email(email):
        return  # the page of choices: accepting is the invitation's step
    holder = await holder_of(claims, email)
    if holder is None or holder["join_role"] is None:
        return
    account = str(holder["account_id"])
    before = [r for r in await members.by_email(email) if r["account_id"] == account]
    j = Joining(account, email, Way.SIGN_IN, "member", IDP, subject)
    try:
        joined = await join(members, claims, j)
    except MemberConflict as exc:  # one provider here: its address is one person
        raise AssertionError(f"{subject} refused as another member: {exc}") from exc
    w.outcomes["joined by domain" if joined.new else "signed in again"] += 1
    if before:
        assert joined.member["id"] == before[0]["id"] and not joined.new, (before, joined)


async def _owner_leaves(w: World, org: int, how: str) -> None:
    s, owner = w.stores, w.owners[org]
    try:
        if how == "remove":
            await leave(s.members(), s.ledger, s.store, w.orgs[org], owner)
        else:
            await narrow(s.members(), s.ledger, s.store, owner, "admin")
    except LastOwner:
        w.outcomes["LastOwner"] += 1
        return
    raise AssertionError("the only owner left")


async def act(w: World, step: Step) -> None:
    action, a, b = step
    try:
        if action in ("create", "deprovision", "reactivate", "delete"):
            await _scim(w, step)
        elif action == "remove":
            await _remove(w, a, b)
        elif action == "invite":
            await _invite(w, a, b)
        elif action == "rename":
            await _rename(w, a, b)
        elif action == "redomain":
            await _redomain(w, a, b)
        elif action == "sign_in":
            await _sign_in(w, a, b)
        else:
            await _owner_leaves(w, a, b)
    except (*REFUSED, NotFound) as refusal:  # an answer by name; anything else fails the case
        w.outcomes[type(refusal).__name__] += 1


async def _key_pair(w: World, row: Row) -> list[str]:
    """A key the member made and one that key minted."""
    s, member = w.stores, str(row["id"])
    lineage = Lineage("person", member, member)
    own = await issue_key(s.ledger, s.store, row["account_id"], KeySpec("k", ["chat"]), lineage)
    await s.members().own_key(own.key_id, member)
    parent = await s.ledger.get_key(own.key_id)
    assert parent is not None
    child = await issue_key(
        s.ledger, s.store, row["account_id"], KeySpec("c", ["chat"]), minted_by_key(parent)
    )
    return [own.key_id, child.key_id]


async def _live(w: World, key_id: str) -> bool:
    row = await w.stores.ledger.get_key(key_id)
    assert row is not None
    redis_live = await w.stores.store.key_is_live(shard_of(row["account_id"]), key_id)
    return row["revoked_at"] is None or redis_live


async def check(w: World, before: dict[str, Row], step: Step) -> dict[str, Row]:
    now = await rows(w)
    for member_id in before.keys() - now.keys():  # ended: remembered by address and NameID
        w.outcomes["ended"] += 1
        gone = before[member_id]
        org = w.orgs.index(gone["account_id"])
        w.removed.setdefault((org, gone["email"]), set()).add(str(gone["subject"] or ""))
        for key_id in w.keys.get(member_id, []):
            assert not await _live(w, key_id), f"{key_id} of gone {member_id} is live"
    for row in now.values():
        org = w.orgs.index(row["account_id"])
        subjects = {s for (o, _), names in w.removed.items() if o == org for s in names}
        assert (org, row["email"]) not in w.removed, f"{row['email']} is back in org {org}"
        assert not row["subject"] or row["subject"] not in subjects, f"{row} is back"
    for member_id in now.keys() - before.keys():
        await _joined_where_it_may(w, now[member_id], step)
    for org, account in enumerate(w.orgs):
        owners = [r for r in now.values() if r["account_id"] == account and r["role"] == "owner"]
        assert owners, f"org {org} has no owner"
    return now


async def _joined_where_it_may(w: World, row: Row, step: Step) -> None:
    """A member made now: of no domain another organization proved, and a directory's of
    its own proven domains when it has any. It gets a key and a key under that key."""
    claims = w.stores.domain_claims()
    holder = await holder_of(claims, row["email"])
    assert holder is None or holder["account_id"] == row["account_id"], (row, holder)
    if step[0] in ("create", "reactivate"):
        ours = [c for c in await claims.of_account(row["account_id"]) if c["verified_at"]]
        if ours:
            assert domains.domain_of(row["email"]) in {c["domain"] for c in ours}, (row, ours)
    w.keys[str(row["id"])] = await _key_pair(w, row)


async def play(stores: Stores, steps: Sequence[Step]) -> Counter[str]:
    """One case from a fresh pair of organizations; raises on the first broken promise;
    what its steps came to."""
    w = await world(stores)
    seen = await rows(w)
    for owner_id in w.owners:
        w.keys[owner_id] = await _key_pair(w, seen[owner_id])
    for at, step in enumerate(steps):
        await act(w, step)
        try:
            seen = await check(w, seen, step)
        except AssertionError as exc:
            raise AssertionError(f"after step {at} {step} of {list(steps)}: {exc}") from exc
    return w.outcomes


@pytest.mark.timeout(360)  # about 8 s on a quiet machine; a busy CI runner takes longer
async def test_joining_and_leaving_keep_every_promise_after_every_step(stores: Stores) -> None:
    outcomes = Counter[str]()
    seeds = range(int(os.environ.get("MEMBERSHIP_SEEDS", len(SEEDS))))
    for seed in seeds:
        try:
            outcomes += await play(stores, steps_of(seed))
        except AssertionError as exc:
            replay = f"play(stores, steps_of({seed}))"
            raise AssertionError(f"seed {seed} (replay: {replay}): {exc}") from exc
    driven = ("joined by domain", "signed in again", "ended", "MemberRemoved", "DomainClaimed",
              "DomainOutside", "LastOwner")  # fmt: skip
    assert min(outcomes[o] for o in driven) >= 10, outcomes  # each side of the rule was tried


async def test_two_sign_ins_at_once_make_one_member(stores: Stores) -> None:
    """The unique keys decide a race: of sign-ins with one NameID, or with the address's
    other spellings, arriving together, one makes the member and the rest find it."""
    w = await world(stores)
    members, claims = stores.members(), stores.domain_claims()
    email = w.email(0)  # org 0 proved its domain, with a join role
    names = [email, email, email.upper(), w.persistent_id(0), w.persistent_id(0)]
    joined = await asyncio.gather(
        *(join(members, claims, Joining(w.orgs[0], email, Way.SIGN_IN, "member", IDP, n))
          for n in names)
    )  # fmt: skip
    assert len({j.member["id"] for j in joined}) == 1, joined
    assert sum(j.new for j in joined) == 1, joined
    assert [r["email"] for r in await members.of_account(w.orgs[0])].count(email) == 1


async def test_an_identity_bound_in_another_organization_is_refused_by_name(
    stores: Stores,
) -> None:
    """(issuer, subject) is one member: the identity a person signs in with elsewhere does
    not join this organization too, whatever address it brings, and says why."""
    w = await world(stores)
    members, claims = stores.members(), stores.domain_claims()
    pid = w.persistent_id(0)
    elsewhere = await members.add(w.orgs[1], "someone@elsewhere.test", IDP, pid, "member")
    with pytest.raises(MemberConflict, match="member of another organization already"):
        await join(members, claims, Joining(w.orgs[0], w.email(0), Way.SIGN_IN, "member", IDP, pid))
    assert await members.by_subject(IDP, pid) == elsewhere
    assert [r for r in await members.of_account(w.orgs[0]) if r["email"] == w.email(0)] == []


async def test_two_owners_removing_each_other_at_once_leave_one(stores: Stores) -> None:
    """The owner rows are locked while a removal or demotion counts them: of two owners
    leaving at once (or one leaving while the other is demoted), one is refused, at the
    service (`leave`, `narrow`) and in the store beneath it."""
    members, s = stores.members(), (stores.members(), stores.ledger, stores.store)
    for attempt in range(12):
        w = await world(stores)
        other = await members.add(w.orgs[0], "owner2@corp.test", IDP, new_id("sub"), "owner")
        first, second, account = w.owners[0], str(other["id"]), w.orgs[0]
        kind = attempt % 4
        ends: list[Awaitable[object]] = [
            leave(*s, account, first) if kind < 2 else members.remove(account, first),
            leave(*s, account, second)
            if kind == 0
            else narrow(*s, second, "admin")
            if kind == 1
            else members.remove(account, second)
            if kind == 2
            else members.set_role(second, "viewer"),
        ]
        done = await asyncio.gather(*ends, return_exceptions=True)
        assert sum(isinstance(d, LastOwner | OnlyOwner) for d in done) == 1, (attempt, done)
        owners = [r for r in await members.of_account(account) if r["role"] == "owner"]
        assert len(owners) == 1, (attempt, owners)
