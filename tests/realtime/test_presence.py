"""Presence and attendance: who is here, without flapping when a connection drops for a
moment (PROTOCOL.md: presence is ephemeral, no seq)."""

import asyncio
import datetime as dt
import time

import pytest
from channels.db import database_sync_to_async

from groups.models import Attendance
from realtime import presence as realtime_presence
from room.models import Connection, MeetingEvent
from tests import factories
from tests.realtime.conftest import settle_departures, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

GRACE = 0.5


@pytest.fixture(autouse=True)
def short_grace(settings):
    settings.HEARTH_PRESENCE_GRACE_SECONDS = GRACE


def presence(frame) -> bool:
    return frame["type"].startswith("presence.")


@database_sync_to_async
def attendance(meeting, membership) -> Attendance | None:
    return Attendance.objects.filter(meeting_id=meeting.pk, membership_id=membership.pk).first()


@database_sync_to_async
def sockets(meeting, membership) -> int:
    """His open sockets in the meeting, as the database counts them."""
    return Connection.objects.filter(meeting_id=meeting.pk, membership_id=membership.pk).count()


@database_sync_to_async
def logged_types(meeting) -> list[str]:
    return list(MeetingEvent.objects.filter(meeting_id=meeting.pk).values_list("type", flat=True))


async def test_joining_is_announced(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host:
        assert host.snapshot["present"] == [facilitator.pk]
        async with ws_connect(sam_user, room) as sam:
            joined = await host.receive_until(presence)
            assert joined == {
                "type": "presence.joined",
                "membership_id": member.pk,
                "alias": "Sam",
                "role": "member",
            }
            assert sorted(sam.snapshot["present"]) == sorted([facilitator.pk, member.pk])
        await settle_departures()
    assert await logged_types(room) == []  # presence is not in the event log


async def test_a_quick_reconnect_does_not_flap(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host:
        async with ws_connect(sam_user, room):
            await host.receive_until(presence)
        async with ws_connect(sam_user, room) as sam:  # back within the grace period
            assert member.pk in sam.snapshot["present"]
            # Past the grace period: nobody saw him leave or arrive again.
            assert await host.nothing_pending(timeout=GRACE + 0.4)
        await settle_departures()


async def test_staying_away_is_announced_after_the_grace_period(
    room, facilitator, member, ws_connect
):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host:
        async with ws_connect(sam_user, room):
            await host.receive_until(presence)
        loop = asyncio.get_running_loop()
        gone_at = loop.time()
        left = await host.receive_until(presence, timeout=GRACE + 3)
        assert loop.time() - gone_at >= GRACE * 0.9
        assert left == {"type": "presence.left", "membership_id": member.pk, "alias": "Sam"}
        # Coming back after that is a new arrival.
        async with ws_connect(sam_user, room):
            joined = await host.receive_until(presence)
            assert (joined["type"], joined["membership_id"]) == ("presence.joined", member.pk)
        await host.receive_until(presence, timeout=GRACE + 3)
    await settle_departures()
    assert await logged_types(room) == []


async def test_closing_one_of_two_tabs_is_not_leaving(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room):
        await host.receive_until(presence)
        async with ws_connect(sam_user, room):
            pass  # a second tab, opened and closed
        assert await host.nothing_pending(timeout=GRACE + 0.4)
        row = await attendance(room, member)
        assert await sockets(room, member) == 1 and row.left_at is None
    await settle_departures()


async def test_attendance_records_join_and_leave(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    assert await attendance(room, member) is None
    async with ws_connect(host_user, room) as host:
        async with ws_connect(sam_user, room):
            first = await attendance(room, member)
            assert first.joined_at is not None
            assert (await sockets(room, member), first.left_at) == (1, None)
            async with ws_connect(sam_user, room):
                assert await sockets(room, member) == 2
            assert await sockets(room, member) == 1
        gone = await attendance(room, member)
        assert await sockets(room, member) == 0
        assert gone.left_at is not None and gone.left_at >= first.joined_at
        await host.receive_until(lambda f: f["type"] == "presence.left", timeout=GRACE + 3)
        after_grace = await attendance(room, member)
        assert (after_grace.left_at, after_grace.joined_at) == (gone.left_at, first.joined_at)
        # Coming back keeps the first join and clears the leave.
        async with ws_connect(sam_user, room):
            back = await attendance(room, member)
            assert (back.joined_at, back.left_at) == (first.joined_at, None)
            assert await sockets(room, member) == 1
    await settle_departures()
    rows = await database_sync_to_async(Attendance.objects.filter(meeting_id=room.pk).count)()
    assert rows == 2  # one per person, however often he came and went


async def test_refused_connections_leave_no_attendance(room, circle, ws_connect):
    outsider = await database_sync_to_async(factories.make_user)()
    async with ws_connect(outsider, room, expect_snapshot=False) as client:
        assert await client.receive_close() == 4403
    assert await database_sync_to_async(Attendance.objects.count)() == 0


# The process lease ---------------------------------------------------------------------


@database_sync_to_async
def lapsed_process(name: str) -> None:
    from django.utils import timezone

    from room.models import ServerProcess

    long_ago = timezone.now() - dt.timedelta(minutes=5)
    ServerProcess.objects.create(id=name, started_at=long_ago, lease_until=long_ago)


@database_sync_to_async
def processes() -> set[str]:
    from room.models import ServerProcess

    return set(ServerProcess.objects.values_list("pk", flat=True))


async def test_a_process_never_sweeps_its_own_lease():
    """Its own lease lapsed only because it was busy: it renews it, and keeps its
    sockets; another lapsed process is swept."""
    from realtime import lease

    lease.stop()  # this test process's own keeper would sweep both
    await lapsed_process("busy-one")
    await lapsed_process("dead-one")
    await database_sync_to_async(realtime_presence.sweep_lapsed)(own="busy-one")
    assert {"busy-one", "dead-one"} & await processes() == {"busy-one"}
    kept = await database_sync_to_async(realtime_presence.lease_renew)(
        process_id="busy-one", seconds=5
    )
    assert kept is True


async def test_the_lease_is_renewed_while_the_event_loop_is_stuck(settings):
    """A connect storm keeps the event loop and the room's database threads busy for
    seconds; the lease is renewed on a thread of its own all the same (before, it was
    renewed from the event loop, lapsed, and the other process swept this one)."""
    from django.utils import timezone

    from realtime import lease
    from room.models import ServerProcess

    settings.HEARTH_PRESENCE_LEASE_SECONDS = 0.6
    await lease.ensure_started()
    stuck_at = timezone.now()
    time.sleep(1.5)  # the event loop does nothing else meanwhile
    row = await database_sync_to_async(ServerProcess.objects.get)(pk=lease.PROCESS_ID)
    assert row.lease_until > stuck_at + dt.timedelta(seconds=1.5)
