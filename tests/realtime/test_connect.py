"""Connecting: who may enter a meeting, the close codes for everyone else, and the
snapshot a person gets on entering (PROTOCOL.md, Connecting / State)."""

import datetime as dt
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from groups import services as group_services
from groups.models import Attendance, MeetingStatus
from room.models import MeetingEvent
from tests import factories
from tests.realtime.conftest import room_state, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@database_sync_to_async
def attendance_count(meeting) -> int:
    return Attendance.objects.filter(meeting_id=meeting.pk).count()


async def refused(ws_connect, user, meeting, **kwargs) -> int:
    """Connect, expect the consumer to accept and then close: return the close code."""
    async with ws_connect(user, meeting, expect_snapshot=False, **kwargs) as client:
        assert client.connected
        code = await client.receive_close()
    return code


# Refusals --------------------------------------------------------------------------------


async def test_logged_out_gets_4401(room, ws_connect):
    assert await refused(ws_connect, None, room) == 4401
    assert await attendance_count(room) == 0


def _outsider(case: str, circle):
    """A logged-in person who must not enter `circle`'s meetings."""
    facilitator = factories.facilitator_of(circle)
    if case == "stranger":
        return factories.make_user()
    if case == "member of another circle":
        other = factories.make_circle()
        return factories.make_member(other).user
    if case == "facilitator of another circle":
        return factories.facilitator_of(factories.make_circle()).user
    if case == "requested":
        return group_services.membership_request(
            user=factories.make_user(), circle=circle, alias="Hopeful", intention=""
        ).user
    if case == "declined":
        request = group_services.membership_request(
            user=factories.make_user(), circle=circle, alias="Not now", intention=""
        )
        return group_services.membership_decline(actor=facilitator, membership=request).user
    if case == "removed":
        member = factories.make_member(circle)
        return group_services.membership_remove(actor=facilitator, membership=member).user
    if case == "left":
        member = factories.make_member(circle)
        return group_services.membership_leave(membership=member).user
    if case == "agreements not accepted":
        return factories.make_member(circle, accepted=False).user
    if case == "agreements changed since accepting":
        member = factories.make_member(circle)
        group_services.circle_update(
            actor=facilitator, circle=circle, agreements="New agreements, to accept again."
        )
        return member.user
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "stranger",
        "member of another circle",
        "facilitator of another circle",
        "requested",
        "declined",
        "removed",
        "left",
        "agreements not accepted",
        "agreements changed since accepting",
    ],
)
async def test_not_allowed_gets_4403(case, room, circle, ws_connect):
    user = await database_sync_to_async(_outsider)(case, circle)
    before = await room_state(room)
    assert await refused(ws_connect, user, room) == 4403
    assert await attendance_count(room) == 0
    assert await room_state(room) == before


@pytest.mark.parametrize(
    "meeting_id",
    [str(uuid.UUID(int=0)), "4f1d6c8e-0000-4000-8000-000000000000", "not-a-uuid", "1", "%20"],
)
async def test_unknown_meeting_gets_4404(meeting_id, room, member, ws_connect):
    (user,) = await users_of(member)
    assert await refused(ws_connect, user, meeting_id) == 4404


async def test_logged_out_and_unknown_meeting_gets_4401(ws_connect):
    """An outsider learns nothing about which meetings exist."""
    assert await refused(ws_connect, None, str(uuid.uuid4())) == 4401


async def test_ended_meeting_gets_4410(circle, facilitator, member, ws_connect):
    ended = await database_sync_to_async(factories.make_meeting)(circle, status=MeetingStatus.ENDED)
    for user in await users_of(member, facilitator):
        assert await refused(ws_connect, user, ended) == 4410
    assert await attendance_count(ended) == 0


@pytest.mark.parametrize("origin", ["http://evil.example", "null", None])
async def test_wrong_origin_is_refused_before_the_consumer(origin, room, member, ws_connect):
    (user,) = await users_of(member)
    async with ws_connect(user, room, origin=origin, expect_snapshot=False) as client:
        assert not client.connected  # denied by the origin validator, never accepted
    assert await attendance_count(room) == 0


async def test_allowed_origin_with_port_is_accepted(room, member, ws_connect):
    (user,) = await users_of(member)
    async with ws_connect(user, room, origin="http://127.0.0.1:8000") as client:
        assert client.snapshot["type"] == "snapshot"


# The waiting room ------------------------------------------------------------------------


async def test_scheduled_meeting_is_a_waiting_room(waiting_room, member, ws_connect):
    (user,) = await users_of(member)
    async with ws_connect(user, waiting_room) as sam:
        assert sam.snapshot["meeting"]["status"] == "scheduled"
        before = await room_state(waiting_room)
        reply = await sam.request({"type": "chat.send", "body": "early", "client_id": "c1"})
        assert reply["type"] == "error"
        assert reply["code"] == "not_live"
        assert await room_state(waiting_room) == before
        await sam.still_works()


# The snapshot ----------------------------------------------------------------------------


def _all_emails() -> list[str]:
    from accounts.models import User

    return list(User.objects.values_list("email", flat=True))


async def test_member_snapshot(room, circle, facilitator, member, ws_connect, library):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host:
        reply = await host.request({"type": "chat.send", "body": "welcome", "client_id": "w"})
        assert reply["seq"] == 1
        async with ws_connect(sam_user, room) as sam:
            snap = sam.snapshot
    assert snap["type"] == "snapshot"
    assert snap["seq"] == 1
    meeting = snap["meeting"]
    assert meeting["id"] == str(room.public_id)
    assert meeting["circle"]["name"] == circle.name
    assert meeting["status"] == "live"
    assert "step" in meeting and meeting["step"] is None
    contract = ("membership_id", "alias", "role")
    assert {k: snap["you"][k] for k in contract} == {
        "membership_id": member.pk,
        "alias": "Sam",
        "role": "member",
    }
    members = {
        m["membership_id"]: {k: m[k] for k in (*contract, "muted_until")} for m in snap["members"]
    }
    assert members == {
        facilitator.pk: {
            "membership_id": facilitator.pk,
            "alias": facilitator.alias,
            "role": "facilitator",
            "muted_until": None,
        },
        member.pk: {
            "membership_id": member.pk,
            "alias": "Sam",
            "role": "member",
            "muted_until": None,
        },
    }
    assert sorted(snap["present"]) == sorted([facilitator.pk, member.pk])
    assert snap["round"] is None
    assert snap["queue"] == {
        "queue": [],
        "floor": None,
        "mode": {"talking_piece": False, "progressive": False},
    }
    assert [e["seq"] for e in snap["events"]] == [1]
    event = snap["events"][0]
    assert event["type"] == "chat.message"
    assert event["body"] == "welcome"
    assert event["author"] == {
        "membership_id": facilitator.pk,
        "alias": facilitator.alias,
        "role": "facilitator",
    }
    assert "at" in event
    # Facilitator-only material never reaches a member.
    assert "facilitator" not in snap
    text = json.dumps(snap)
    for email in await database_sync_to_async(_all_emails)():
        assert email not in text
    assert "@" not in text
    assert "To listen." not in text  # members' intentions are for facilitators only
    for step in (snap["meeting"]["agenda"] or {}).get("steps", []):
        assert "notes" not in step


async def test_facilitator_snapshot_has_coaching_and_prompts(
    room, facilitator, member, ws_connect, library
):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(sam_user, room), ws_connect(host_user, room) as host:
        snap = host.snapshot
    assert snap["you"]["role"] == "facilitator"
    coaching = snap["facilitator"]["coaching"]
    assert coaching, "the facilitator gets coaching cards"
    assert {"key", "strategy", "title", "body"} <= set(coaching[0])
    prompts = snap["facilitator"]["prompts"]
    assert prompts, "the facilitator gets the prompt library"
    assert {"id", "text", "strategy"} <= set(prompts[0])
    assert snap["facilitator"]["intentions"] == {str(member.pk): "To listen."}
    text = json.dumps(snap)
    for email in await database_sync_to_async(_all_emails)():
        assert email not in text
    steps = snap["meeting"]["agenda"]["steps"]
    assert steps and all("notes" in step for step in steps)


@database_sync_to_async
def _fill_log(meeting, author, n: int) -> None:
    earlier = timezone.now() - dt.timedelta(hours=1)  # outside the chat rate window
    MeetingEvent.objects.bulk_create(
        MeetingEvent(
            meeting=meeting,
            seq=seq,
            type="chat.message",
            payload={"author": {"membership_id": author.pk}, "body": f"m{seq}", "client_id": None},
            actor=author,
            created_at=earlier,
        )
        for seq in range(1, n + 1)
    )


async def test_snapshot_carries_the_last_100_events(room, member, ws_connect):
    await _fill_log(room, member, 105)
    (user,) = await users_of(member)
    async with ws_connect(user, room) as sam:
        snap = sam.snapshot
        assert snap["seq"] == 105
        assert [e["seq"] for e in snap["events"]] == list(range(6, 106))
        assert snap["events"][-1]["body"] == "m105"
        # And the next event continues the numbering.
        reply = await sam.request({"type": "chat.send", "body": "next", "client_id": "n"})
        assert reply["seq"] == 106


async def test_empty_log_snapshot_has_seq_0(waiting_room, facilitator, ws_connect):
    (user,) = await users_of(facilitator)
    async with ws_connect(user, waiting_room) as host:
        assert host.snapshot["seq"] == 0
        assert host.snapshot["events"] == []
        assert host.snapshot["present"] == [facilitator.pk]


async def test_two_tabs_of_one_person(room, member, ws_connect):
    (user,) = await users_of(member)
    async with ws_connect(user, room) as first, ws_connect(user, room) as second:
        assert second.snapshot["present"] == [member.pk]
        reply = await first.request({"type": "chat.send", "body": "from tab 1", "client_id": "t"})
        seen = await second.receive_until(lambda f: f["type"] == "chat.message")
        assert seen["seq"] == reply["seq"]
