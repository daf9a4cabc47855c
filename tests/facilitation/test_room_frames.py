"""Facilitation over real websockets: frames in, broadcasts out to everyone in the room.

Each test drives the full ASGI stack (origin check, session auth, routing, consumer,
channel layer). Async tests never touch lazy ORM relations; users come from users_of()
and database reads go through database_sync_to_async.
"""

import asyncio

import pytest
from channels.db import database_sync_to_async

from facilitation.models import Prompt, ScriptStep, Turn
from groups.models import Membership
from realtime import consumers
from tests import factories
from tests.realtime.conftest import connect, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

FACILITATOR_FRAMES = [
    {"type": "round.start", "kind": "check_in"},
    {"type": "round.next", "turn_id": 1},
    {"type": "round.skip", "turn_id": 1},
    {"type": "round.end"},
    {"type": "floor.grant", "membership_id": 1},
    {"type": "floor.release"},
    {"type": "queue.move", "membership_id": 1, "position": 0},
    {"type": "queue.mode", "progressive": True, "talking_piece": True},
    {"type": "prompt.push", "prompt": "Anything?"},
    {"type": "phase.set", "step_id": None},
]
ROOM_EVENTS = {
    "round.started",
    "turn.started",
    "turn.ended",
    "round.ended",
    "round.updated",
    "queue.updated",
    "floor.granted",
    "floor.released",
    "prompt.pushed",
    "phase.changed",
}


@pytest.fixture
def ws_connect():
    """The websocket client of tests/realtime, shared rather than copied."""
    return connect


@pytest.fixture(autouse=True)
def short_grace(settings):
    settings.HEARTH_PRESENCE_GRACE_SECONDS = 0.3


@pytest.fixture
def meeting(circle):
    return factories.make_meeting(circle)


@pytest.fixture
def ann(circle):
    return factories.make_member(circle, alias="Ann")


@pytest.fixture
def bob(circle):
    return factories.make_member(circle, alias="Bob")


def of_type(*types):
    return lambda f: f.get("type") in types


async def settle_departures() -> None:
    """Let every pending presence confirmation finish inside this test's loop."""
    if consumers._pending_departures:
        await asyncio.gather(*list(consumers._pending_departures))


async def closed_with(client, timeout: float = 3) -> int:
    while True:
        output = await client.communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output["code"]


@database_sync_to_async
def open_turns(meeting) -> list[tuple[int, int]]:
    return list(
        Turn.objects.filter(round__meeting=meeting, ended_at__isnull=True).values_list(
            "number", "membership_id"
        )
    )


async def test_a_round_runs_turn_by_turn_for_everyone(meeting, facilitator, ann, bob, ws_connect):
    host_u, ann_u, bob_u = await users_of(facilitator, ann, bob)
    async with (
        ws_connect(host_u, meeting) as host,
        ws_connect(ann_u, meeting) as a,
        ws_connect(bob_u, meeting) as b,
    ):
        reply = await host.request(
            {"type": "round.start", "kind": "check_in", "order": "seating", "seconds_per_turn": 60}
        )
        assert reply["type"] == "ack", reply
        started = await b.receive_until(of_type("round.started"))
        assert started["round"]["order"] == [facilitator.pk, ann.pk, bob.pk]
        first = await b.receive_until(of_type("turn.started"))
        assert first["membership_id"] == facilitator.pk
        assert first["deadline"] is not None
        assert reply["seq"] == first["seq"]

        # Not his turn: Ann can neither end it nor write, but she can react.
        assert (await a.request({"type": "turn.done"}))["code"] == "not_your_turn"
        no_chat = await a.request({"type": "chat.send", "body": "me too"})
        assert no_chat["code"] == "not_your_turn"
        said = await host.request({"type": "chat.send", "body": "I'm tired tonight."})
        reacted = await a.request(
            {"type": "reaction.send", "target_seq": said["seq"], "kind": "heard"}
        )
        assert reacted["type"] == "ack", reacted

        stale = first["turn_id"]
        assert (await host.request({"type": "turn.done", "turn_id": stale}))["type"] == "ack"
        ended = await b.receive_until(of_type("turn.ended"))
        assert (ended["membership_id"], ended["outcome"]) == (facilitator.pk, "done")
        second = await b.receive_until(of_type("turn.started"))
        assert second["membership_id"] == ann.pk
        late = await host.request({"type": "round.next", "turn_id": stale})
        assert late["code"] == "conflict"

        shared = await a.request({"type": "feelings.share", "words": ["tired"], "weather": 3})
        assert shared["type"] == "ack", shared
        feelings = await b.receive_until(of_type("feelings.shared"))
        assert (feelings["membership_id"], feelings["words"], feelings["weather"]) == (
            ann.pk,
            ["tired"],
            3,
        )
        bad = await a.request({"type": "feelings.share", "words": ["hangry"]})
        assert bad["code"] == "invalid"
        assert (await b.request({"type": "feelings.share", "words": ["calm"]}))[
            "code"
        ] == "not_your_turn"

        assert (await a.request({"type": "turn.pass"}))["type"] == "ack"
        passed = await host.receive_until(
            lambda f: f.get("type") == "turn.ended" and f["membership_id"] == ann.pk
        )
        assert (passed["membership_id"], passed["outcome"]) == (ann.pk, "passed")
        third = await host.receive_until(of_type("turn.started"))
        assert third["membership_id"] == bob.pk

        assert (await b.request({"type": "turn.done"}))["type"] == "ack"
        over = await a.receive_until(of_type("round.ended"))
        assert over["round"]["outcomes"] == ["done", "passed", "done"]
        # The round is over: everyone may write again.
        assert (await a.request({"type": "chat.send", "body": "thanks"}))["type"] == "ack"


async def test_members_are_refused_every_facilitator_frame(meeting, facilitator, ann, ws_connect):
    host_u, ann_u = await users_of(facilitator, ann)
    async with ws_connect(host_u, meeting) as host, ws_connect(ann_u, meeting) as a:
        for frame in FACILITATOR_FRAMES:
            frame = dict(frame)
            if "membership_id" in frame:
                frame["membership_id"] = ann.pk
            reply = await a.request(frame)
            assert (reply["type"], reply["code"]) == ("error", "forbidden"), frame
        assert (await a.request({"type": "round.next"}))["code"] == "invalid"
        marker = await a.request({"type": "chat.send", "body": "marker"})

        seen = []
        while True:
            frame = await host.receive()
            seen.append(frame["type"])
            if frame["type"] == "chat.message":
                break
        assert not ROOM_EVENTS & set(seen), seen
        assert frame["seq"] == marker["seq"] == host.snapshot["seq"] + 1


async def test_a_late_joiner_is_added_to_the_end(meeting, facilitator, ann, bob, ws_connect):
    host_u, ann_u, bob_u = await users_of(facilitator, ann, bob)
    async with ws_connect(host_u, meeting) as host, ws_connect(ann_u, meeting) as a:
        assert (await host.request({"type": "round.start", "kind": "topic"}))["type"] == "ack"
        async with ws_connect(bob_u, meeting) as b:
            updated = await a.receive_until(of_type("round.updated"))
            assert updated["round"]["order"] == [facilitator.pk, ann.pk, bob.pk]
            assert b.snapshot["round"]["order"] == [facilitator.pk, ann.pk, bob.pk]
            assert b.snapshot["round"]["current"]["membership_id"] == facilitator.pk


async def test_a_round_survives_everyone_reconnecting(
    meeting, facilitator, ann, bob, ws_connect, settings
):
    settings.HEARTH_PRESENCE_GRACE_SECONDS = 1.0
    users = await users_of(facilitator, ann, bob)
    async with (
        ws_connect(users[0], meeting) as host,
        ws_connect(users[1], meeting),
        ws_connect(users[2], meeting),
    ):
        await host.request({"type": "round.start", "kind": "check_in"})
        await host.request({"type": "turn.done"})
        current = await host.receive_until(
            lambda f: f.get("type") == "turn.started" and f["membership_id"] == ann.pk
        )
    # Everyone's connection dropped (a network blip); all are back within the grace.
    async with (
        ws_connect(users[0], meeting) as host,
        ws_connect(users[1], meeting) as a,
        ws_connect(users[2], meeting),
    ):
        assert host.snapshot["round"] == current["round"]
        assert a.snapshot["round"]["current"]["turn_id"] == current["turn_id"]
        assert host.snapshot["seq"] == current["seq"]
        await settle_departures()  # the grace period runs out with everyone back
        assert await host.nothing_pending(0.2)
        assert await open_turns(meeting) == [(2, ann.pk)]
        assert (await a.request({"type": "turn.done"}))["type"] == "ack"


async def test_the_speaker_who_drops_is_skipped_after_the_grace(
    meeting, facilitator, ann, bob, ws_connect
):
    host_u, ann_u, bob_u = await users_of(facilitator, ann, bob)
    async with ws_connect(host_u, meeting) as host, ws_connect(bob_u, meeting) as b:
        async with ws_connect(ann_u, meeting) as a:
            # Seating order is join order: the facilitator, Bob, then Ann.
            await host.request({"type": "round.start", "kind": "check_in"})
            await host.request({"type": "turn.done"})
            await b.request({"type": "turn.done"})
            await a.receive_until(
                lambda f: f.get("type") == "turn.started" and f["membership_id"] == ann.pk
            )
        # Ann's connection is gone; her turn stands until the grace period ends.
        gone_at = asyncio.get_running_loop().time()
        ended = await host.receive_until(
            lambda f: f.get("type") == "turn.ended" and f["membership_id"] == ann.pk, timeout=5
        )
        assert asyncio.get_running_loop().time() - gone_at >= 0.25  # grace is 0.3 s
        assert ended["outcome"] == "skipped"
        over = await host.receive_until(of_type("round.ended"))
        assert over["round"]["outcomes"] == ["done", "done", "skipped"]
        left = await host.receive_until(of_type("presence.left"))
        assert left["membership_id"] == ann.pk
        await settle_departures()


async def test_the_speaker_removed_mid_turn_is_skipped_and_disconnected(
    meeting, facilitator, ann, bob, ws_connect
):
    host_u, ann_u, bob_u = await users_of(facilitator, ann, bob)
    async with (
        ws_connect(host_u, meeting) as host,
        ws_connect(ann_u, meeting) as a,
        ws_connect(bob_u, meeting) as b,
    ):
        await host.request({"type": "round.start", "kind": "check_in"})
        await host.request({"type": "turn.done"})
        await b.receive_until(
            lambda f: f.get("type") == "turn.started" and f["membership_id"] == ann.pk
        )

        reply = await host.request({"type": "member.remove", "membership_id": ann.pk})

        assert reply["type"] == "ack", reply
        ended = await b.receive_until(of_type("turn.ended"))
        assert (ended["membership_id"], ended["outcome"]) == (ann.pk, "skipped")
        started = await b.receive_until(of_type("turn.started"))
        assert started["membership_id"] == bob.pk
        await b.receive_until(of_type("member.removed"))
        assert await closed_with(a) == 4403
        assert (await b.request({"type": "turn.done"}))["type"] == "ack"
    await settle_departures()


@pytest.fixture
def outsiders():
    """A member and the facilitator of another circle."""
    other = factories.make_circle()
    return factories.make_member(other, alias="Stranger"), factories.facilitator_of(other)


async def test_someone_from_another_circle_cannot_connect(meeting, outsiders, ws_connect):
    users = await users_of(*outsiders)

    for user in users:
        async with ws_connect(user, meeting, expect_snapshot=False) as outsider:
            assert await closed_with(outsider) == 4403


async def test_the_talking_order_over_the_wire(meeting, facilitator, ann, bob, ws_connect):
    host_u, ann_u, bob_u = await users_of(facilitator, ann, bob)
    async with (
        ws_connect(host_u, meeting) as host,
        ws_connect(ann_u, meeting) as a,
        ws_connect(bob_u, meeting) as b,
    ):
        await b.request({"type": "hand.raise"})
        await a.request({"type": "hand.raise"})
        again = await b.request({"type": "hand.raise"})
        assert again == {"type": "ack", "ref": again["ref"], "seq": None}
        updated = await host.receive_until(
            lambda f: f.get("type") == "queue.updated" and len(f["queue"]) == 2
        )
        assert [e["membership_id"] for e in updated["queue"]] == [bob.pk, ann.pk]
        assert [e["alias"] for e in updated["queue"]] == ["Bob", "Ann"]

        await host.request({"type": "queue.mode", "talking_piece": True})
        await host.request({"type": "floor.grant", "membership_id": bob.pk})
        granted = await a.receive_until(of_type("floor.granted"))
        assert granted["membership_id"] == bob.pk
        queue = await a.receive_until(of_type("queue.updated"))
        assert ([e["membership_id"] for e in queue["queue"]], queue["floor"]) == ([ann.pk], bob.pk)
        assert queue["mode"] == {"talking_piece": True, "progressive": False}
        assert (await a.request({"type": "chat.send", "body": "hi"}))["code"] == "not_your_turn"
        assert (await b.request({"type": "chat.send", "body": "hi"}))["type"] == "ack"

        await host.request({"type": "floor.release"})
        released = await a.receive_until(of_type("floor.released"))
        assert released["membership_id"] == bob.pk

    async with ws_connect(host_u, meeting) as host:
        speaking = host.snapshot["facilitator"]["speaking"]
        assert speaking[str(bob.pk)]["count"] == 1
        async with ws_connect(ann_u, meeting) as a:
            assert "facilitator" not in a.snapshot
            # Ann dropped with everyone else and came back: still first in the queue.
            assert [e["membership_id"] for e in a.snapshot["queue"]["queue"]] == [ann.pk]
    await settle_departures()


async def test_prompts_reach_everyone_and_are_remembered(
    library, meeting, facilitator, ann, ws_connect
):
    prompt = await database_sync_to_async(
        lambda: Prompt.objects.filter(circle__isnull=True, kind="men").first()
    )()
    partners = await database_sync_to_async(
        lambda: Prompt.objects.filter(circle__isnull=True, kind="partners").first()
    )()
    host_u, ann_u = await users_of(facilitator, ann)
    async with ws_connect(host_u, meeting) as host, ws_connect(ann_u, meeting) as a:
        assert "facilitator" not in a.snapshot
        assert (await host.request({"type": "prompt.push", "prompt_id": prompt.pk}))[
            "type"
        ] == "ack"
        pushed = await a.receive_until(of_type("prompt.pushed"))
        assert pushed["prompt"] == {
            "id": prompt.pk,
            "text": prompt.text,
            "strategy": prompt.strategy,
        }

        refused = await host.request({"type": "prompt.push", "prompt_id": partners.pk})
        assert refused["code"] == "not_found"
        await host.request({"type": "prompt.push", "prompt": "What are you proud of?"})
        free = await a.receive_until(of_type("prompt.pushed"))
        assert free["prompt"]["id"] is None

    async with ws_connect(host_u, meeting) as host:
        library = {p["id"]: p for p in host.snapshot["facilitator"]["prompts"]}
        assert library[prompt.pk]["last_used"] is not None
        assert partners.pk not in library
    await settle_departures()


async def test_the_agenda_reaches_members_without_the_notes(
    library, meeting, facilitator, ann, ws_connect
):
    step = await database_sync_to_async(
        lambda: ScriptStep.objects.filter(script__key="men_weekly").exclude(notes="").first()
    )()
    other = await database_sync_to_async(
        lambda: ScriptStep.objects.filter(script__key="partner_weekly").first()
    )()
    host_u, ann_u = await users_of(facilitator, ann)
    async with ws_connect(host_u, meeting) as host, ws_connect(ann_u, meeting) as a:
        assert all("notes" not in s for s in a.snapshot["meeting"]["agenda"]["steps"])
        notes = {s["id"]: s["notes"] for s in host.snapshot["meeting"]["agenda"]["steps"]}
        assert notes[step.pk] == step.notes

        assert (await host.request({"type": "phase.set", "step_id": step.pk}))["type"] == "ack"
        changed = await a.receive_until(of_type("phase.changed"))
        assert changed["step"]["id"] == step.pk
        assert "notes" not in changed["step"]
        assert step.notes not in str(changed)
        assert (await host.request({"type": "phase.set", "step_id": other.pk}))[
            "code"
        ] == "not_found"
    await settle_departures()


async def test_a_removed_member_cannot_come_back(meeting, facilitator, ann, ws_connect):
    host_u, ann_u = await users_of(facilitator, ann)
    async with ws_connect(host_u, meeting) as host:
        await host.request({"type": "member.remove", "membership_id": ann.pk})
        status = await database_sync_to_async(lambda: Membership.objects.get(pk=ann.pk).status)()
        assert status == "removed"
        async with ws_connect(ann_u, meeting, expect_snapshot=False) as a:
            assert await closed_with(a) == 4403
