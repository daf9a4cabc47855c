"""The event log's numbering and recovery: seq runs 1, 2, 3 … per meeting with no gaps
and no repeats, and a client that reconnects and resyncs misses nothing and sees
nothing twice (PROTOCOL.md, State and the event log)."""

import json
import threading

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from facilitation.models import Script
from facilitation.services import phase_set
from groups.models import Meeting, MeetingStatus, Membership
from realtime import consumers, protocol, services
from realtime.dispatch import perform
from realtime.protocol import author as author_of
from realtime.selectors import meeting_snapshot
from room.context import Room, Seat
from room.log import EventLog, lock_meeting
from room.models import MeetingEvent
from tests import factories
from tests.realtime.conftest import events_of, users_of

live = pytest.mark.asyncio
pytestmark = [pytest.mark.django_db(transaction=True)]


def chat(body, client_id):
    return {"type": "chat.send", "body": body, "client_id": client_id}


def logged(frame) -> bool:
    return "seq" in frame and frame["type"] not in {"ack", "snapshot", "events"}


async def resync(client, after: int) -> tuple[list[dict], int]:
    """Send resync and gather every `events` frame until the backlog is complete."""
    await client.send({"type": "resync", "after": after})
    events: list[dict] = []
    while True:
        frame = await client.receive_until(lambda f: f["type"] == "events")
        events += frame["events"]
        latest = frame["seq"]
        if not frame["events"] or frame["events"][-1]["seq"] >= latest:
            return events, latest


# Numbering -------------------------------------------------------------------------------


@live
async def test_events_are_numbered_without_gaps(
    circle, facilitator, member, other_member, ws_connect
):
    waiting = await database_sync_to_async(factories.make_meeting)(
        circle, status=MeetingStatus.SCHEDULED
    )
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, waiting) as host,
        ws_connect(sam_user, waiting) as sam,
        ws_connect(alex_user, waiting) as alex,  # only watches
    ):
        acks = [
            await host.request({"type": "meeting.open"}),
            await sam.request(chat("first", "c1")),
            await host.request({"type": "reaction.send", "target_seq": 2, "kind": "heard"}),
            await sam.request({"type": "hand.raise"}),
            # Two events (floor.granted, queue.updated): acked with the last one's seq.
            await host.request({"type": "floor.grant", "membership_id": member.pk}),
            await host.request({"type": "floor.release"}),
            await sam.request(chat("second", "c2")),
        ]
        assert [a["type"] for a in acks] == ["ack"] * len(acks)
        assert [a["seq"] for a in acks] == [1, 2, 3, 4, 6, 8, 9]
        seen = []
        while len(seen) < 9:
            frame = await alex.receive()
            if logged(frame):
                seen.append(frame)
        assert [f["seq"] for f in seen] == list(range(1, 10))
        assert [f["type"] for f in seen] == [
            "meeting.opened",
            "chat.message",
            "reaction.added",
            "queue.updated",
            "floor.granted",
            "queue.updated",
            "floor.released",
            "queue.updated",
            "chat.message",
        ]
        assert all(f["at"] for f in seen)
    assert [e.seq for e in await events_of(waiting)] == list(range(1, 10))


@live
async def test_presence_and_private_frames_carry_no_seq(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        joined = await host.receive_until(lambda f: f["type"] == "presence.joined")
        assert "seq" not in joined
        target = (await sam.request(chat("hello", "c1")))["seq"]
        await sam.request({"type": "message.report", "target_seq": target})
        report = await host.receive_until(lambda f: f["type"] == "report.received")
        assert "seq" not in report
    assert [e.seq for e in await events_of(room)] == [1]


# Resync ----------------------------------------------------------------------------------


@live
async def test_resync_returns_exactly_the_later_events(
    room, facilitator, member, ws_connect, monkeypatch
):
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 100)
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        for n in range(1, 8):
            await host.request(chat(f"m{n}", f"c{n}"))
        for after, expected in [(0, range(1, 8)), (4, range(5, 8)), (7, []), (50, [])]:
            events, latest = await resync(sam, after)
            assert [e["seq"] for e in events] == list(expected), after
            assert latest == 7
        events, _ = await resync(sam, 5)
        assert [e["body"] for e in events] == ["m6", "m7"]
        assert events[0]["author"]["membership_id"] == facilitator.pk


@live
async def test_long_backlog_is_split_but_complete(
    room, facilitator, member, ws_connect, monkeypatch
):
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 100)
    monkeypatch.setattr(consumers, "RESYNC_BATCH", 3)
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        for n in range(1, 9):
            await host.request(chat(f"m{n}", f"c{n}"))
        await sam.send({"type": "resync", "after": 1})
        frames = []
        while not frames or frames[-1]["events"] and frames[-1]["events"][-1]["seq"] < 8:
            frames.append(await sam.receive_until(lambda f: f["type"] == "events"))
        assert len(frames) > 1
        assert all(len(f["events"]) <= 3 and f["seq"] == 8 for f in frames)
        assert [e["seq"] for f in frames for e in f["events"]] == list(range(2, 9))


@live
async def test_a_heavy_backlog_is_split_by_size_but_complete(
    room, facilitator, member, ws_connect, monkeypatch
):
    """Long messages of emoji: far fewer than RESYNC_BATCH events already pass
    EVENTS_FRAME_MAX_BYTES, so the reply comes in several frames, each within the size,
    together every event once; the last frame's last event reaches its seq."""
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 100)
    monkeypatch.setattr(protocol, "EVENTS_FRAME_MAX_BYTES", 64 * 1024)
    body = "\U0001f600" * protocol.MAX_BODY_CHARS  # 8 KB of UTF-8
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        for n in range(1, 21):
            # As raw UTF-8: JSON's \\u escapes would take the frame past 16 KiB.
            await host.send_raw(
                json.dumps({"id": f"r{n}", **chat(body, f"c{n}")}, ensure_ascii=False)
            )
            assert (await host.reply_to(f"r{n}"))["type"] == "ack"
        await sam.send({"type": "resync", "after": 0})
        frames = []
        while not frames or frames[-1]["events"][-1]["seq"] < 20:
            raw = await sam.communicator.receive_from(timeout=3)
            frame = json.loads(raw)
            if frame["type"] == "events":
                assert len(raw.encode()) <= 64 * 1024
                frames.append(frame)
        assert len(frames) >= 3
        assert all(frame["seq"] == 20 for frame in frames)
        assert [e["seq"] for f in frames for e in f["events"]] == list(range(1, 21))
        assert await sam.nothing_pending()


@live
async def test_reconnect_and_resync_misses_nothing_and_repeats_nothing(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with ws_connect(host_user, room) as host, ws_connect(alex_user, room) as alex:
        async with ws_connect(sam_user, room) as sam:
            await host.request(chat("before 1", "h1"))
            await alex.request(chat("before 2", "a1"))
            seen = []
            while len(seen) < 2:
                frame = await sam.receive()
                if logged(frame):
                    seen.append(frame)
            last_seen = seen[-1]["seq"]
        # Sam is away: the room carries on.
        await host.request(chat("while away 1", "h2"))
        await alex.request({"type": "reaction.send", "target_seq": 1, "kind": "support"})
        await alex.request(chat("while away 2", "a2"))
        await host.request({"type": "message.delete", "target_seq": 2})
        async with ws_connect(sam_user, room) as sam:
            assert sam.snapshot["seq"] == 6
            missed, latest = await resync(sam, last_seen)
            assert latest == 6
            assert [e["seq"] for e in missed] == [3, 4, 5, 6]
            assert [e["type"] for e in missed] == [
                "chat.message",
                "reaction.added",
                "chat.message",
                "message.deleted",
            ]
            # Live events continue right after.
            await alex.request(chat("welcome back", "a3"))
            frame = await sam.receive_until(logged)
            assert frame["seq"] == 7
            seqs = [f["seq"] for f in seen] + [e["seq"] for e in missed] + [frame["seq"]]
            assert seqs == list(range(1, 8))  # every event exactly once
            assert await sam.nothing_pending()


@live
async def test_chat_retried_after_reconnect_is_not_duplicated(
    room, facilitator, member, ws_connect
):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host:
        async with ws_connect(sam_user, room) as sam:
            # Sent, then the connection drops before the ack is read.
            await sam.send(chat("did this arrive?", "retry-me"))
        first = await host.receive_until(lambda f: f["type"] == "chat.message")
        async with ws_connect(sam_user, room) as sam:
            reply = await sam.request(chat("did this arrive?", "retry-me"))
            assert reply["type"] == "ack"
            assert reply["seq"] == first["seq"] == 1
            assert await host.nothing_pending()
    assert [e.seq for e in await events_of(room)] == [1]


# Concurrency on PostgreSQL ---------------------------------------------------------------


def _seat(meeting, membership) -> Seat:
    return Seat(
        meeting_pk=meeting.pk,
        membership_id=membership.pk,
        user_id=membership.user_id,
        is_facilitator=membership.role == "facilitator",
    )


def _run_threads(targets) -> list[Exception]:
    """Start all at once; each thread has (and closes) its own database connection."""
    barrier = threading.Barrier(len(targets))
    errors: list[Exception] = []

    def run(target):
        try:
            barrier.wait()
            target()
        except Exception as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


def test_concurrent_chat_writers_get_consecutive_seqs(room, circle, monkeypatch):
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 1000)
    seats = [_seat(room, factories.make_member(circle)) for _ in range(4)]
    accepted: list[int] = []

    def writer(seat):
        def write():
            for i in range(25):
                result = services.chat_send(
                    seat=seat,
                    body=f"m{i}",
                    client_id=f"{seat.membership_id}-{i}",
                    now=timezone.now(),
                )
                accepted.append(result.seq)

        return write

    errors = _run_threads([writer(seat) for seat in seats])
    assert errors == []
    rows = list(MeetingEvent.objects.filter(meeting=room).order_by("seq"))
    assert [e.seq for e in rows] == list(range(1, 101))
    assert sorted(accepted) == list(range(1, 101))
    # Each writer's own messages keep their order.
    for seat in seats:
        mine = [e.payload["body"] for e in rows if e.actor_id == seat.membership_id]
        assert mine == [f"m{i}" for i in range(25)]


def test_concurrent_chat_and_frames_share_one_sequence(room, circle, facilitator, monkeypatch):
    """chat_send and perform lock the same row, so they interleave without gaps."""
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 1000)
    chatters = [_seat(room, factories.make_member(circle)) for _ in range(2)]
    hands = [_seat(room, factories.make_member(circle)) for _ in range(2)]

    def chatter(seat):
        def run():
            for i in range(20):
                services.chat_send(seat=seat, body=f"m{i}", client_id=None, now=timezone.now())

        return run

    def hand(seat):
        def run():
            for i in range(20):
                command = protocol.HandRaise() if i % 2 == 0 else protocol.HandLower()
                perform(seat=seat, command=command, now=timezone.now())

        return run

    errors = _run_threads([chatter(s) for s in chatters] + [hand(s) for s in hands])
    assert errors == []
    seqs = list(MeetingEvent.objects.filter(meeting=room).values_list("seq", flat=True))
    assert seqs == list(range(1, 81))
    room.refresh_from_db()
    assert room.queue == []  # every hand raised was lowered


def test_concurrent_retries_of_one_client_id_make_one_event(room, member):
    seat = _seat(room, member)
    results: list[int] = []

    def send():
        results.append(
            services.chat_send(seat=seat, body="once", client_id="same", now=timezone.now()).seq
        )

    errors = _run_threads([send for _ in range(4)])
    assert errors == []
    assert results == [1, 1, 1, 1]
    assert MeetingEvent.objects.filter(meeting=room).count() == 1


def _snapshot_while_a_writer_holds_the_lock(room, member, write) -> dict:
    """Take a snapshot while `write(meeting)` runs in another transaction that holds
    the meeting lock and has not committed: the snapshot doesn't wait for it."""
    locked, release = threading.Event(), threading.Event()
    snapshots: list[dict] = []

    def writer():
        with transaction.atomic():
            write(lock_meeting(room.pk))
            locked.set()
            release.wait(10)

    def reader():
        locked.wait(10)
        try:
            snapshots.append(meeting_snapshot(meeting_pk=room.pk, membership_id=member.pk))
        finally:
            release.set()

    errors = _run_threads([writer, reader])
    assert errors == []
    return snapshots[0]


def _snapshot_with_a_commit_in_the_middle(room, member, write, monkeypatch) -> dict:
    """Take a snapshot while `write(meeting)` commits in another transaction after the
    snapshot has read the seq but before it reads the events."""
    from facilitation import services as facilitation_services

    present_ids = facilitation_services.present_ids

    def commit_meanwhile(meeting_pk):
        def writer():
            with transaction.atomic():
                write(lock_meeting(room.pk))

        assert _run_threads([writer]) == []
        return present_ids(meeting_pk)

    monkeypatch.setattr(facilitation_services, "present_ids", commit_meanwhile)
    return meeting_snapshot(meeting_pk=room.pk, membership_id=member.pk)


def _chat(member):
    def write(meeting):
        EventLog(meeting, timezone.now()).append(
            "chat.message", {"author": author_of(member), "body": "hi", "client_id": None}
        )

    return write


def test_a_snapshot_does_not_wait_for_a_writer(room, member):
    """The snapshot doesn't lock the meeting: a writer holding the lock doesn't make it
    wait, and what the writer has not committed is not in it."""
    with transaction.atomic():
        _chat(member)(lock_meeting(room.pk))  # seq 1, committed
    snapshot = _snapshot_while_a_writer_holds_the_lock(room, member, _chat(member))
    assert [e["seq"] for e in snapshot["events"]] == [1]
    assert snapshot["seq"] == 1


def test_a_snapshot_is_one_moment(room, member, monkeypatch):
    """An event that commits while the snapshot is being read is in none of it: the
    client must not get the old seq with the new event (it would apply the event twice:
    from the snapshot, and again after snapshot.seq)."""
    snapshot = _snapshot_with_a_commit_in_the_middle(room, member, _chat(member), monkeypatch)
    assert snapshot["seq"] == 0
    assert snapshot["events"] == []
    assert MeetingEvent.objects.filter(meeting=room).count() == 1


def test_a_snapshot_during_a_phase_change_keeps_the_step_it_began_with(
    room, member, facilitator, monkeypatch
):
    call_command("load_library", verbosity=0)
    script = Script.objects.filter(kind=room.circle.kind).exclude(key=None).first()
    first, second = script.steps.order_by("position")[:2]
    Meeting.objects.filter(pk=room.pk).update(script=script, current_step=first)

    def write(meeting):
        log = EventLog(meeting, timezone.now())
        actor = Membership.objects.select_related("circle").get(pk=facilitator.pk)
        phase_set(Room(meeting=meeting, actor=actor, log=log, now=log.now), step_id=second.pk)

    snapshot = _snapshot_with_a_commit_in_the_middle(room, member, write, monkeypatch)
    assert snapshot["meeting"]["step"]["id"] == first.pk
    assert snapshot["seq"] == 0
    assert snapshot["events"] == []
    after = meeting_snapshot(meeting_pk=room.pk, membership_id=member.pk)
    assert after["meeting"]["step"]["id"] == second.pk
    assert [e["type"] for e in after["events"]] == ["phase.changed"]
