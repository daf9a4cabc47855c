"""The live room's limits, each pushed until it gives: the per-person budget of every
kind of frame (realtime.dispatch.ROUTES), the cap of open flags per member, the cap of
sockets per person and meeting (4409), resolving flags, and the size of the largest
snapshot a facilitator can be sent.

In-process ASGI (tests/realtime/conftest.py) with real PostgreSQL and Redis. The numbers
are read from the code (ROUTES, OPEN_REPORTS_PER_MEMBER, MAX_SOCKETS_PER_PERSON,
SNAPSHOT_*), never repeated here.

A flood is sent in one go, without waiting for any reply, so the consumer meets the
frames back to back as a misbehaving client would send them. Most tests stop the
budgets' clock (`frozen`) so that "exactly the budget is accepted" holds however slow
the machine, and a refill is exactly one token when the test moves the clock; one test
keeps the real clock to show the buckets really refill with time.
"""

import asyncio
import datetime as dt
import json
import math
from collections.abc import Callable
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.utils import timezone

from facilitation.models import FeelingShare, Script, ScriptStep
from groups import services as group_services
from groups.models import Circle, Meeting, MeetingStatus, Membership, Role
from groups.services import CircleRuleError
from realtime import protocol
from realtime import protocol as p
from realtime.dispatch import ROUTES, Budget, budgets, over_budget_error, perform
from realtime.models import CrisisAlert, MessageReport
from realtime.presence import MAX_SOCKETS_PER_PERSON
from realtime.services import CHAT_RATE_COUNT, OPEN_REPORTS_PER_MEMBER
from room.context import Seat
from room.log import EventLog, lock_meeting
from room.models import Connection, MeetingEvent
from tests import factories
from tests.realtime.conftest import Client, room_state, settle_departures, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

EXTRA = 5
"""Frames sent beyond each budget."""

BUSY = over_budget_error().message
"""What a frame refused by its budget is told (the open-flags cap and chat's own rule
say `rate_limited` too, in other words)."""

GRACE = 0.5


def budget_of(command: type[p.Command]) -> Budget:
    return ROUTES[command].budget


class BudgetClock:
    """The budgets' clock, still unless the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def one_token(self, budget: Budget) -> None:
        """Just past the time one token takes to come back."""
        self.now += budget.seconds / budget.count * 1.001


@pytest.fixture(autouse=True)
def empty_budgets(settings):
    """Buckets are per process: every test starts (and leaves) them full."""
    settings.HEARTH_PRESENCE_GRACE_SECONDS = GRACE
    budgets.clear()
    yield
    budgets.clear()


@pytest.fixture
def frozen(monkeypatch) -> BudgetClock:
    clock = BudgetClock()
    monkeypatch.setattr(budgets, "_clock", clock)
    return clock


# Helpers -----------------------------------------------------------------------------


def is_reply(frame: dict) -> bool:
    return frame["type"] in {"ack", "error"}


async def flood(client: Client, frames: list[dict]) -> tuple[list[dict], list[dict]]:
    """Send every frame at once, then read the reply to each (in the order sent) and,
    apart, whatever else arrived meanwhile (broadcasts)."""
    ids = [await client.send(frame) for frame in frames]
    replies: dict[str, dict] = {}
    others: list[dict] = []
    while len(replies) < len(ids):
        frame = await client.receive(timeout=10)
        if is_reply(frame) and frame.get("ref") in ids:
            replies[frame["ref"]] = frame
        else:
            others.append(frame)
    return [replies[i] for i in ids], others


def resolve(report_id: int) -> dict:
    return {"type": "report.resolve", "report_id": report_id}


def assert_busy(reply: dict) -> None:
    assert reply["type"] == "error", reply
    assert reply["code"] == "rate_limited", reply
    assert reply["message"] == BUSY, reply


async def drain(client: Client, quiet: float = 0.3) -> list[dict]:
    """Whatever is waiting for the client, until nothing comes for `quiet` seconds
    (with the notices an earlier receive_until set aside)."""
    set_aside: list[dict] = getattr(client, "notices", [])
    frames = list(set_aside)
    set_aside.clear()
    while not await client.nothing_pending(timeout=quiet):
        frames.append(await client.receive())
    return frames


@database_sync_to_async
def newest_seq(meeting) -> int:
    seqs = MeetingEvent.objects.filter(meeting_id=meeting.pk).order_by("-seq")
    return seqs.values_list("seq", flat=True).first() or 0


@database_sync_to_async
def seed_chat(meeting, author: Membership, count: int) -> list[int]:
    """`count` chat messages by `author`, written straight into the log (before anyone
    connects: no broadcast is missed)."""
    with transaction.atomic():
        log = EventLog(lock_meeting(meeting.pk), timezone.now())
        seqs = [
            log.append(
                "chat.message",
                {"author": protocol.author(author), "body": f"message {n}", "client_id": None},
                actor=author,
            ).seq
            for n in range(count)
        ]
        log.publish()
    return seqs


async def assert_flood_accepts_its_budget(
    *,
    meeting,
    sender: Client,
    watcher: Client,
    command: type[p.Command],
    frame: Callable[[int], dict],
    frozen: BudgetClock,
) -> None:
    """`frame(n)` makes the n-th frame; each accepted one makes exactly one event. The
    first budget.count are acked in order, each with the next seq; the rest are refused
    (`rate_limited`); the watcher hears exactly the accepted ones; a refused frame
    changes nothing; the socket stays open; one token's time later exactly one more is
    accepted."""
    budget = budget_of(command)
    await drain(watcher)
    before = await newest_seq(meeting)
    replies, _ = await flood(sender, [frame(n) for n in range(budget.count + EXTRA)])
    for n, reply in enumerate(replies[: budget.count]):
        assert reply["type"] == "ack", (command.type, n, reply)
        assert reply["seq"] == before + 1 + n, (command.type, n, reply)
    for reply in replies[budget.count :]:
        assert_busy(reply)
    assert await newest_seq(meeting) == before + budget.count
    heard = [f["seq"] for f in await drain(watcher) if "seq" in f]
    assert heard == list(range(before + 1, before + budget.count + 1)), heard

    # Refused, one at a time now: nothing changes, nobody hears of it.
    state = await room_state(meeting)
    assert_busy(await sender.request(frame(budget.count + EXTRA)))
    assert await room_state(meeting) == state
    assert await watcher.nothing_pending()

    # A token comes back with time: exactly one more.
    frozen.one_token(budget)
    reply = await sender.request(frame(budget.count + EXTRA + 1))
    assert reply["type"] == "ack" and reply["seq"] == before + budget.count + 1, reply
    assert_busy(await sender.request(frame(budget.count + EXTRA + 2)))
    await sender.still_works()


# Budgets: members' frames -----------------------------------------------------------------


async def test_hand_raise_and_lower_alternating_each_spend_their_own_budget(
    room, facilitator, member, ws_connect, frozen
):
    raising, lowering = budget_of(p.HandRaise), budget_of(p.HandLower)
    host_user, sam_user = await users_of(facilitator, member)
    pairs = max(raising.count, lowering.count) + EXTRA
    frames = [{"type": "hand.raise" if n % 2 == 0 else "hand.lower"} for n in range(2 * pairs)]
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        await drain(host)
        before = await newest_seq(room)
        replies, _ = await flood(sam, frames)

        # What the server must have done: each frame within its own kind's budget is
        # accepted, and makes an event when it changes the queue.
        hand_up, seq, expected = False, before, []
        for n, frame in enumerate(frames):
            budget = raising if frame["type"] == "hand.raise" else lowering
            if n // 2 >= budget.count:
                expected.append(("error", None))
                continue
            if hand_up != (frame["type"] == "hand.raise"):
                hand_up = not hand_up
                seq += 1
                expected.append(("ack", seq))
            else:
                expected.append(("ack", None))
        assert [(r["type"], r.get("seq")) for r in replies] == expected, replies
        for reply in replies:
            if reply["type"] == "error":
                assert_busy(reply)
        assert await newest_seq(room) == seq
        heard = [f for f in await drain(host) if f["type"] == "queue.updated"]
        assert [f["seq"] for f in heard] == list(range(before + 1, seq + 1))

        state = await room_state(room)
        for kind in ("hand.raise", "hand.lower"):
            assert_busy(await sam.request({"type": kind}))
        assert await room_state(room) == state
        assert await host.nothing_pending()

        frozen.one_token(raising)
        frozen.one_token(lowering)
        reply = await sam.request({"type": "hand.lower" if hand_up else "hand.raise"})
        assert reply["type"] == "ack" and reply["seq"] == seq + 1, reply
        budgets.clear()
        if not hand_up:
            assert (await sam.request({"type": "hand.lower"}))["type"] == "ack"
        await sam.still_works()


async def test_reaction_budget(room, facilitator, member, ws_connect, frozen):
    budget = budget_of(p.ReactionSend)
    kinds = p.REACTION_KINDS
    # Every frame of the flood is a reaction nobody has made yet: each accepted one is
    # an event, and each refused one would have been.
    targets = await seed_chat(room, facilitator, math.ceil((budget.count + EXTRA + 2) / len(kinds)))
    pairs = [(seq, kind) for seq in targets for kind in kinds]
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        await assert_flood_accepts_its_budget(
            meeting=room,
            sender=sam,
            watcher=host,
            command=p.ReactionSend,
            frame=lambda n: {
                "type": "reaction.send",
                "target_seq": pairs[n][0],
                "kind": pairs[n][1],
            },
            frozen=frozen,
        )
    reactions = await database_sync_to_async(
        MeetingEvent.objects.filter(meeting=room, type="reaction.added").count
    )()
    assert reactions == budget.count + 1


async def test_feelings_share_budget(room, facilitator, member, ws_connect, frozen):
    budget = budget_of(p.FeelingsShare)
    host_user, sam_user = await users_of(facilitator, member)
    # Sam arrives first, so the check-in round (in seating order) starts with his turn.
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        reply = await host.request({"type": "round.start", "kind": "check_in", "order": "seating"})
        assert reply["type"] == "ack", reply
        started = await sam.receive_until(lambda f: f["type"] == "round.started")
        assert started["round"]["current"]["membership_id"] == member.pk
        await drain(sam)
        await assert_flood_accepts_its_budget(
            meeting=room,
            sender=sam,
            watcher=host,
            command=p.FeelingsShare,
            frame=lambda n: {"type": "feelings.share", "words": ["calm"], "weather": 1 + n % 10},
            frozen=frozen,
        )
    shares = await database_sync_to_async(FeelingShare.objects.filter(membership=member).count)()
    assert shares == budget.count + 1


async def test_resync_budget(room, facilitator, member, ws_connect, frozen):
    budget = budget_of(p.Resync)
    await seed_chat(room, facilitator, 3)
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        frames = [{"type": "resync", "after": 0}] * (budget.count + EXTRA)
        for frame in frames:
            await sam.send(frame)
        # A resync is answered with `events` (no ref), a refusal with an error (its ref).
        answers = [
            await sam.receive_until(lambda f: f["type"] in {"events", "error"}) for _ in frames
        ]
        assert [a["type"] for a in answers] == ["events"] * budget.count + ["error"] * EXTRA
        assert all(len(a["events"]) == 3 for a in answers[: budget.count])
        for answer in answers[budget.count :]:
            assert_busy(answer)
        assert await sam.nothing_pending()
        frozen.one_token(budget)
        await sam.send({"type": "resync", "after": 1})
        assert len((await sam.receive())["events"]) == 2
        assert_busy(await sam.request({"type": "resync", "after": 0}))
        await sam.still_works()


async def test_budgets_refill_with_real_time(room, member, ws_connect):
    """No stopped clock: the buckets of the running server fill up again by themselves."""
    budget = budget_of(p.Resync)
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        frames = [{"type": "resync", "after": 0}] * (budget.count + EXTRA)
        for frame in frames:
            await sam.send(frame)
        answers = [
            await sam.receive_until(lambda f: f["type"] in {"events", "error"}) for _ in frames
        ]
        kinds = [a["type"] for a in answers]
        refused = kinds.count("error")
        assert refused >= 1 and kinds == ["events"] * (len(kinds) - refused) + ["error"] * refused
        assert_busy(await sam.request({"type": "resync", "after": 0}))
        await asyncio.sleep(budget.seconds / budget.count * 1.2)
        await sam.send({"type": "resync", "after": 0})
        assert (await sam.receive())["type"] == "events"


async def test_chat_budget_beyond_chats_own_rule(room, facilitator, member, ws_connect, frozen):
    """chat.send has two limits: the database's (CHAT_RATE_COUNT per window, for
    everyone's sockets) refuses first; the budget turns the rest of a flood away before
    it reaches the database."""
    budget = budget_of(p.ChatSend)
    assert budget.count > CHAT_RATE_COUNT
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        await drain(host)
        frames = [
            {"type": "chat.send", "body": f"flood {n}", "client_id": f"f{n}"}
            for n in range(budget.count + EXTRA)
        ]
        replies, _ = await flood(sam, frames)
        assert [r["type"] for r in replies[:CHAT_RATE_COUNT]] == ["ack"] * CHAT_RATE_COUNT
        assert [r["seq"] for r in replies[:CHAT_RATE_COUNT]] == list(range(1, CHAT_RATE_COUNT + 1))
        for reply in replies[CHAT_RATE_COUNT : budget.count]:
            assert reply["code"] == "rate_limited" and reply["message"] != BUSY, reply
        for reply in replies[budget.count :]:
            assert_busy(reply)
        heard = [f["body"] for f in await drain(host) if f["type"] == "chat.message"]
        assert heard == [f"flood {n}" for n in range(CHAT_RATE_COUNT)]
        assert await newest_seq(room) == CHAT_RATE_COUNT
        await sam.still_works()


async def test_message_report_budget_and_open_flags_cap(
    room, facilitator, member, other_member, ws_connect, frozen
):
    """Two limits answer `rate_limited`: the open-flags cap (a database rule) and the
    budget. The cap counts open flags only; the budget counts every frame, refused
    ones too."""
    budget = budget_of(p.MessageReport)
    cap = OPEN_REPORTS_PER_MEMBER
    assert budget.count >= cap + 2, "the budget must be reachable below the cap"
    (target,) = await seed_chat(room, facilitator, 1)
    host_user, alex_user = await users_of(facilitator, other_member)

    def report(n: int) -> dict:
        return {"type": "message.report", "target_seq": target, "reason": f"flag {n}"}

    async with ws_connect(host_user, room) as host, ws_connect(alex_user, room) as alex:
        await drain(host)
        # cap flags, then the cap refuses: cap + 1 tokens spent.
        replies, _ = await flood(alex, [report(n) for n in range(cap + 1)])
        assert [r["type"] for r in replies] == ["ack"] * cap + ["error"]
        assert all(r["seq"] is None for r in replies[:cap])
        capped = replies[cap]
        assert capped["code"] == "rate_limited" and capped["message"] != BUSY, capped
        received = [f for f in await drain(host) if f["type"] == "report.received"]
        assert [f["reports_open"] for f in received] == list(range(1, cap + 1))

        # A facilitator looks at them all: the cap no longer stands in the way...
        for flag in received:
            assert (await host.request(resolve(flag["report_id"])))["type"] == "ack"
        await drain(host)
        # ... but the budget does, once it is spent, with fewer than `cap` open.
        left = budget.count - (cap + 1)
        replies, _ = await flood(alex, [report(cap + 1 + n) for n in range(left + EXTRA)])
        assert [r["type"] for r in replies[:left]] == ["ack"] * left
        for reply in replies[left:]:
            assert_busy(reply)
        assert left < cap
        heard = [f for f in await drain(host) if f["type"] == "report.received"]
        assert [f["reports_open"] for f in heard] == list(range(1, left + 1))
        state = await room_state(room)
        assert_busy(await alex.request(report(99)))
        assert await room_state(room) == state
        assert await host.nothing_pending()
        open_flags = await database_sync_to_async(
            MessageReport.objects.filter(meeting=room, resolved_at__isnull=True).count
        )()
        assert open_flags == left
        await alex.still_works()


# Budgets: facilitators' frames --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "frame"),
    [
        (
            p.QueueMode,
            lambda n: {"type": "queue.mode", "talking_piece": n % 2 == 0, "progressive": False},
        ),
        (p.PromptPush, lambda n: {"type": "prompt.push", "prompt": f"What is new, {n}?"}),
    ],
    ids=["queue.mode", "prompt.push"],
)
async def test_facilitator_frame_budget(
    command, frame, room, facilitator, member, ws_connect, frozen
):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        await assert_flood_accepts_its_budget(
            meeting=room, sender=host, watcher=sam, command=command, frame=frame, frozen=frozen
        )


# Budgets: per person, across his sockets -------------------------------------------------


async def test_a_persons_sockets_share_his_budget_and_nobody_elses(
    room, facilitator, member, other_member, ws_connect, frozen
):
    budget = budget_of(p.HandRaise)
    sam_user, alex_user = await users_of(member, other_member)
    async with (
        ws_connect(sam_user, room) as phone,
        ws_connect(sam_user, room) as laptop,
        ws_connect(alex_user, room) as alex,
    ):
        replies, _ = await flood(phone, [{"type": "hand.raise"}] * budget.count)
        assert all(r["type"] == "ack" for r in replies), replies
        # His other socket finds the bucket empty...
        state = await room_state(room)
        assert_busy(await laptop.request({"type": "hand.raise"}))
        assert_busy(await phone.request({"type": "hand.raise"}))
        assert await room_state(room) == state
        # ... for that command only: other commands have their own buckets.
        reply = await laptop.request({"type": "hand.lower"})
        assert reply["type"] == "ack" and reply["seq"] is not None, reply
        # Someone else's budget is untouched.
        replies, _ = await flood(alex, [{"type": "hand.raise"}] * budget.count)
        assert all(r["type"] == "ack" for r in replies), replies
        assert_busy(await alex.request({"type": "hand.raise"}))
        budgets.clear()
        assert (await alex.request({"type": "hand.lower"}))["seq"] is not None
        for client in (phone, laptop, alex):
            await client.still_works()


# The socket cap ------------------------------------------------------------------------


@database_sync_to_async
def sockets_of(meeting, membership) -> int:
    return Connection.objects.filter(meeting_id=meeting.pk, membership_id=membership.pk).count()


def presence(frame: dict) -> bool:
    return frame["type"].startswith("presence.")


async def test_a_socket_beyond_the_cap_closes_the_oldest(
    room, circle, facilitator, member, other_member, ws_connect
):
    other_room = await database_sync_to_async(factories.make_meeting)(
        circle, status=MeetingStatus.LIVE
    )
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with AsyncExitStack() as stack:
        host = await stack.enter_async_context(ws_connect(host_user, room))
        alex = [
            await stack.enter_async_context(ws_connect(alex_user, room))
            for _ in range(MAX_SOCKETS_PER_PERSON)
        ]
        sam = [
            await stack.enter_async_context(ws_connect(sam_user, room))
            for _ in range(MAX_SOCKETS_PER_PERSON)
        ]
        # Each arrival was announced once, whatever number of sockets followed it.
        arrivals = [(f["type"], f["membership_id"]) for f in await drain(host) if presence(f)]
        assert arrivals == [("presence.joined", other_member.pk), ("presence.joined", member.pk)]
        for heard in await asyncio.gather(*(drain(client) for client in alex)):
            arrivals = [(f["type"], f["membership_id"]) for f in heard if presence(f)]
            # (Whether a socket hears its own arrival is not the point here.)
            others = [a for a in arrivals if a[1] != other_member.pk]
            assert others == [("presence.joined", member.pk)], arrivals
        assert await sockets_of(room, member) == MAX_SOCKETS_PER_PERSON

        newest = await stack.enter_async_context(ws_connect(sam_user, room))
        assert member.pk in newest.snapshot["present"]
        assert await sam[0].receive_close() == 4409
        assert await sockets_of(room, member) == MAX_SOCKETS_PER_PERSON
        for client in (*sam[1:], newest, *alex, host):
            await client.still_works()
        # Nobody saw him leave or arrive again, past the grace period too.
        await asyncio.sleep(GRACE + 0.3)
        await settle_departures()
        everyone = (host, *alex, *sam[1:], newest)
        for heard in await asyncio.gather(*(drain(client) for client in everyone)):
            assert not [f for f in heard if presence(f)], heard
        assert await sockets_of(room, member) == MAX_SOCKETS_PER_PERSON
        assert await sockets_of(room, other_member) == MAX_SOCKETS_PER_PERSON

        # In another meeting he has his own sockets, and his first room keeps his.
        elsewhere = [
            await stack.enter_async_context(ws_connect(sam_user, other_room))
            for _ in range(MAX_SOCKETS_PER_PERSON)
        ]
        for client in (*elsewhere, *sam[1:], newest):
            await client.still_works()
        assert await sockets_of(other_room, member) == MAX_SOCKETS_PER_PERSON
        assert await sockets_of(room, member) == MAX_SOCKETS_PER_PERSON
        assert not [f for f in await drain(host) if presence(f)]
    await settle_departures()


# report.resolve ----------------------------------------------------------------------


@database_sync_to_async
def co_facilitator_of(circle, facilitator) -> Membership:
    member = factories.make_member(circle, alias="Co-host")
    return group_services.membership_set_role(
        actor=facilitator, membership=member, role=Role.FACILITATOR
    )


@database_sync_to_async
def report_rows(meeting) -> list[tuple[int, bool]]:
    """Every flag of the meeting: (id, resolved)."""
    rows = MessageReport.objects.filter(meeting_id=meeting.pk).order_by("pk")
    return [(pk, resolved is not None) for pk, resolved in rows.values_list("pk", "resolved_at")]


@database_sync_to_async
def flag_elsewhere(circle, member) -> int:
    """An open flag in another meeting of the same circle."""
    other = factories.make_meeting(circle, status=MeetingStatus.LIVE)
    return MessageReport.objects.create(
        meeting=other, target_seq=1, reporter=member, reason="", created_at=timezone.now()
    ).pk


async def test_report_resolve(room, circle, facilitator, member, other_member, ws_connect):
    cap = OPEN_REPORTS_PER_MEMBER
    co = await co_facilitator_of(circle, facilitator)
    foreign_flag = await flag_elsewhere(circle, other_member)
    (target,) = await seed_chat(room, member, 1)
    host_user, co_user, sam_user, alex_user = await users_of(facilitator, co, member, other_member)
    flag = {"type": "message.report", "target_seq": target, "reason": "Please look."}
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(co_user, room) as co_host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        for _ in range(cap):
            assert (await alex.request(flag))["type"] == "ack"
        assert (await alex.request(flag))["code"] == "rate_limited"  # at the cap
        flags = [f for f in await drain(host) if f["type"] == "report.received"]
        assert [f["reports_open"] for f in flags] == list(range(1, cap + 1))
        assert [f["report_id"] for f in flags] == [
            f["report_id"] for f in await drain(co_host) if f["type"] == "report.received"
        ]
        ids = [f["report_id"] for f in flags]
        for client in (sam, alex):
            await drain(client)

        # Members may not resolve flags, their own included: nothing changes, nobody hears.
        state, rows = await room_state(room), await report_rows(room)
        for client in (sam, alex):
            reply = await client.request(resolve(ids[0]))
            assert reply["type"] == "error" and reply["code"] == "forbidden", reply
            assert reply["message"]
        assert await room_state(room) == state and await report_rows(room) == rows
        for client in (host, co_host):
            assert await client.nothing_pending()
        await sam.still_works()

        # A facilitator resolves one: every facilitator's socket hears, no member does.
        reply = await host.request(resolve(ids[0]))
        assert reply["type"] == "ack" and reply["seq"] is None, reply
        for client in (host, co_host):
            resolved = await client.receive_until(lambda f: f["type"] == "report.resolved")
            assert resolved == {
                "type": "report.resolved",
                "report_id": ids[0],
                "by": {
                    "membership_id": facilitator.pk,
                    "alias": facilitator.alias,
                    "role": "facilitator",
                },
                "reports_open": cap - 1,
            }
        for client in (sam, alex):
            assert await client.nothing_pending()
        assert await report_rows(room) == [(ids[0], True), *((i, False) for i in ids[1:])]
        assert await room_state(room) == state  # no event in the shared log

        # Resolved already, or not in this meeting: not_found, and nothing changes.
        rows = await report_rows(room)
        for report_id in (ids[0], foreign_flag, 10**9):
            reply = await co_host.request(resolve(report_id))
            assert reply["type"] == "error" and reply["code"] == "not_found", reply
        assert await report_rows(room) == rows
        assert await database_sync_to_async(
            MessageReport.objects.filter(pk=foreign_flag, resolved_at__isnull=True).exists
        )()
        for client in (host, co_host, sam, alex):
            assert await client.nothing_pending()

        # The cap counts open flags: Alex may flag again.
        budgets.clear()
        assert (await alex.request(flag))["type"] == "ack"
        again = await co_host.receive_until(lambda f: f["type"] == "report.received")
        assert again["reports_open"] == cap

        # A facilitator who connects now is sent the open ones only.
        async with ws_connect(co_user, room) as late:
            kept = late.snapshot["facilitator"]
            assert [r["report_id"] for r in kept["reports"]] == [*ids[1:], again["report_id"]]
            assert kept["reports_open"] == cap


# The largest facilitator snapshot ---------------------------------------------------------

CRISIS = "I want to kill myself. "
TEXTS = {
    # One character of each: as plain text, and at four bytes of UTF-8, the most a
    # character may cost on the wire now that control characters (a 6-byte JSON escape
    # each) are refused.
    "plain": "x",
    "emoji": "\U0001f600",
}


def fill(char: str, length: int, head: str = "") -> str:
    return head + char * (length - len(head))


def parsed(frame: dict) -> p.Command:
    """The command as the socket would have parsed it: every field rule applied."""
    return p.parse_frame(json.dumps(frame, ensure_ascii=False)).command


@database_sync_to_async
def fill_every_list(circle: Circle, meeting: Meeting, host: Membership, char: str) -> dict:
    """The room at every bound the server and its pages allow, built through the
    services (chat, flags and rounds through `perform`, as a socket calls them)."""
    from facilitation import library_services
    from groups.models import MAX_CAPACITY

    Circle.objects.filter(pk=circle.pk).update(capacity=MAX_CAPACITY)
    circle.refresh_from_db()
    people = [host, *(factories.make_member(circle, alias=f"m{n}") for n in range(MAX_CAPACITY))]
    for n, person in enumerate(people):
        person.refresh_from_db()
        group_services.membership_update_profile(
            membership=person, alias=fill(char, 40, f"{n:02d}"), intention=fill(char, 1000)
        )
    # The longest agenda: MAX_STEPS steps, each field as long as the pages allow, and
    # notes up to what the whole agenda may hold.
    script = Script.objects.create(name=fill(char, 120), kind=circle.kind, circle=circle)
    notes_left = library_services.AGENDA_NOTES_MAX
    for _ in range(library_services.MAX_STEPS):
        notes = min(library_services.STEP_NOTES_MAX, notes_left)
        notes_left -= notes
        library_services.script_step_add(
            actor=host,
            circle=circle,
            script=script,
            title=fill(char, library_services.STEP_TITLE_MAX),
            purpose=fill(char, library_services.STEP_PURPOSE_MAX),
            notes=fill(char, notes),
            minutes=5,
            round_kind="check_in",
        )
    Meeting.objects.filter(pk=meeting.pk).update(script=script)
    steps = list(ScriptStep.objects.filter(script=script).order_by("position"))
    seats = [factories.enter_room(person, meeting) for person in people]
    now = timezone.now()

    def do(seat: Seat, frame: dict, at: dt.datetime = now) -> None:
        perform(seat=seat, command=parsed(frame), now=at)

    do(seats[0], {"type": "phase.set", "step_id": steps[-1].pk})
    for seat in seats[1:]:
        do(seat, {"type": "hand.raise"})
    do(seats[0], {"type": "floor.grant", "membership_id": seats[-1].membership_id})
    do(
        seats[0],
        {
            "type": "round.start",
            "kind": "check_in",
            "prompt": fill(char, p.MAX_PROMPT_CHARS),
            "order": "seating",
            "seconds_per_turn": 1800,
            "quiet_seconds": 300,
        },
    )
    # SNAPSHOT_EVENTS chat messages of the longest body, each one crisis language (an
    # alert each), with the longest client_id; the facilitator may chat during a round.
    # Sent a few seconds apart, as chat's own rule (5 in 10 s) wants.
    targets = []
    for n in range(p.SNAPSHOT_EVENTS):
        frame = {
            "type": "chat.send",
            "body": fill(char, p.MAX_BODY_CHARS, CRISIS),
            "client_id": fill("c", p.MAX_ID_CHARS, str(n)),
        }
        accepted = perform(
            seat=seats[0], command=parsed(frame), now=now + dt.timedelta(seconds=3 * n)
        )
        targets.append(accepted.seq)
    # Every member flags as many messages as he may, with the longest reason.
    for seat in seats[1:]:
        for n in range(OPEN_REPORTS_PER_MEMBER):
            reason = fill(char, p.MAX_REASON_CHARS)
            do(seat, {"type": "message.report", "target_seq": targets[n], "reason": reason})
    Membership.objects.filter(circle=circle, role=Role.MEMBER).update(
        muted_until=now + dt.timedelta(minutes=240)
    )
    own_prompts(circle, host, char, library_services.MAX_OWN_PROMPTS)
    return {
        "members": len(people),
        "alerts": CrisisAlert.objects.filter(meeting=meeting).count(),
        "reports": MessageReport.objects.filter(meeting=meeting).count(),
    }


def sizes(snapshot: dict) -> str:
    """Bytes of each part, largest first, for the failure message."""
    parts = {key: value for key, value in snapshot.items() if key != "facilitator"}
    parts |= {f"facilitator.{key}": value for key, value in snapshot["facilitator"].items()}
    measured = {key: len(protocol.dumps({"x": value}).encode()) for key, value in parts.items()}
    return ", ".join(f"{k} {v:,}" for k, v in sorted(measured.items(), key=lambda kv: -kv[1]))


def own_prompts(circle: Circle, host: Membership, char: str, count: int) -> None:
    """As many of the circle's own prompts as it may keep, each as long as allowed."""
    from facilitation import library_services
    from facilitation.strategies import STRATEGIES

    for n in range(count):
        library_services.prompt_create(
            actor=host,
            circle=circle,
            text=fill(char, library_services.PROMPT_TEXT_MAX, f"Prompt {n}: "),
            strategy=next(iter(STRATEGIES)),
            phase="opening",
            depth=1,
        )


async def first_frame(user, room, ws_connect) -> str:
    async with ws_connect(user, room, expect_snapshot=False) as client:
        return await client.communicator.receive_from(timeout=10)


def assert_newest_events(snapshot: dict) -> None:
    """The snapshot's events are the newest ones, gapless up to its seq, within their
    size and count (fewer than SNAPSHOT_EVENTS when long messages fill the size)."""
    seqs = [e["seq"] for e in snapshot["events"]]
    assert seqs == list(range(snapshot["seq"] - len(seqs) + 1, snapshot["seq"] + 1))
    assert 0 < len(seqs) <= p.SNAPSHOT_EVENTS
    assert p.size_of(snapshot["events"]) <= p.SNAPSHOT_EVENTS_MAX_BYTES


@pytest.mark.parametrize("text", list(TEXTS))
async def test_the_largest_snapshots_are_within_their_bounds(
    text, library, room, circle, facilitator, ws_connect
):
    """Every list of a snapshot at its limit: members up to the circle's capacity with
    the longest aliases and intentions, the longest agenda with all the notes it may
    hold, the most own prompts, a round with the longest prompt and everyone in it,
    everyone's hand raised, the last SNAPSHOT_EVENTS events all chat messages of the
    longest body (crisis language: an alert each), every member's open flags with the
    longest reason. The facilitator's snapshot stays within its bound, a member's
    within his."""
    counts = await fill_every_list(circle, room, facilitator, TEXTS[text])
    assert counts["alerts"] == p.SNAPSHOT_EVENTS > p.SNAPSHOT_NOTICES
    assert counts["reports"] == (counts["members"] - 1) * OPEN_REPORTS_PER_MEMBER
    assert counts["reports"] > p.SNAPSHOT_NOTICES
    host_user, member_user = await users_of(facilitator, *await a_member_of(circle))
    raw = await first_frame(host_user, room, ws_connect)
    snapshot = json.loads(raw)
    kept = snapshot["facilitator"]
    assert_newest_events(snapshot)
    assert {e["type"] for e in snapshot["events"]} == {"chat.message"}
    assert len(kept["alerts"]) == len(kept["reports"]) == p.SNAPSHOT_NOTICES
    assert len(snapshot["members"]) == counts["members"]
    assert len(snapshot["meeting"]["agenda"]["steps"]) == 30
    assert sum(len(s["notes"]) for s in snapshot["meeting"]["agenda"]["steps"]) == 10_000
    assert sum(prompt["own"] for prompt in kept["prompts"]) == 50
    assert snapshot["round"]["current"] and len(snapshot["queue"]["queue"]) == counts["members"] - 2
    size = len(raw.encode("utf-8"))
    print(f"{text}: the facilitator's snapshot is {size:,} bytes: {sizes(snapshot)}")
    assert size <= p.FACILITATOR_SNAPSHOT_MAX_BYTES, sizes(snapshot)

    raw = await first_frame(member_user, room, ws_connect)
    snapshot = json.loads(raw)
    assert "facilitator" not in snapshot
    assert_newest_events(snapshot)
    size = len(raw.encode("utf-8"))
    print(f"{text}: a member's snapshot is {size:,} bytes")
    assert size <= p.SNAPSHOT_MAX_BYTES


@database_sync_to_async
def a_member_of(circle: Circle) -> list[Membership]:
    return [Membership.objects.filter(circle=circle, role=Role.MEMBER).earliest("pk")]


async def test_a_circle_keeps_a_bounded_library_of_its_own(room, circle, facilitator, ws_connect):
    """The facilitator's snapshot carries the whole prompt library, so the circle's own
    part has a limit: the prompt past it is refused with a clear error."""
    from facilitation import library_services

    await database_sync_to_async(own_prompts)(
        circle, facilitator, "x", library_services.MAX_OWN_PROMPTS
    )
    with pytest.raises(CircleRuleError) as refused:
        await database_sync_to_async(own_prompts)(circle, facilitator, "y", 1)
    assert refused.value.code == "too_many_prompts"
    assert "at most 50 prompts" in refused.value.messages[0]
    (host_user,) = await users_of(facilitator)
    snapshot = json.loads(await first_frame(host_user, room, ws_connect))
    assert sum(prompt["own"] for prompt in snapshot["facilitator"]["prompts"]) == 50
