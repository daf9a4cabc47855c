"""Two facilitators pressing at the same moment, on the real PostgreSQL: each thread has
its own connection, so the meeting row lock is what keeps "next" from advancing twice.

The deterministic tests hold the meeting row lock in the test's own connection, start
both frames, wait until PostgreSQL shows both blocked on it, and only then let go: both
frames were sent while the same turn was current, yet exactly one may move it.
"""

import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from facilitation.models import Round, Turn
from groups import services as group_services
from groups.models import Meeting
from realtime.dispatch import perform
from realtime.protocol import parse_frame
from room.errors import ErrorCode, RoomError
from room.models import MeetingEvent
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def frame(frame_type: str, **fields):
    return parse_frame(json.dumps({"type": frame_type, **fields}))


def enter(membership, meeting):
    return factories.enter_room(membership, meeting)


def apply_in_thread(seat, f, results: list, start: threading.Barrier | None = None):
    """frame_apply on this thread's own database connection; the outcome goes to results."""

    def run():
        try:
            if start is not None:
                start.wait(timeout=10)
            accepted = perform(seat=seat, command=f.command, now=timezone.now())
            results.append(("ok", accepted.seq))
        except RoomError as error:
            results.append(("error", error.code))
        except Exception as error:  # a crash must fail the test, not vanish with the thread
            results.append(("crash", repr(error)))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def blocked_on_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0]


def race_holding_the_lock(meeting: Meeting, *jobs) -> list:
    """Start every (seat, frame) while the meeting row is locked here; release once all
    are waiting for it. Returns the outcomes in completion order."""
    results: list = []
    with transaction.atomic():
        Meeting.objects.select_for_update().get(pk=meeting.pk)
        threads = [apply_in_thread(seat, f, results) for seat, f in jobs]
        deadline = time.monotonic() + 10
        while blocked_on_locks() < len(jobs):
            assert time.monotonic() < deadline, "the frames never queued on the meeting lock"
            time.sleep(0.01)
        assert results == []  # nobody got past the lock
    for thread in threads:
        thread.join(timeout=10)
        assert not thread.is_alive()
    return results


@pytest.fixture
def two_hosts(circle, facilitator):
    """Two facilitators and two members in a live meeting, a seating check-in running."""
    second = factories.make_member(circle, alias="Deputy")
    second = group_services.membership_set_role(
        actor=facilitator, membership=second, role="facilitator"
    )
    ann = factories.make_member(circle, alias="Ann")
    bob = factories.make_member(circle, alias="Bob")
    meeting = factories.make_meeting(circle)
    seats = [enter(m, meeting) for m in (facilitator, second, ann, bob)]
    perform(
        seat=seats[0], command=frame("round.start", kind="check_in").command, now=timezone.now()
    )
    return meeting, seats


def test_two_facilitators_pressing_next_at_once_advance_one_turn(two_hosts):
    meeting, (host, deputy, *_members) = two_hosts
    turn = Turn.objects.get(round__meeting=meeting, ended_at__isnull=True)
    seq = MeetingEvent.objects.filter(meeting=meeting).count()

    results = race_holding_the_lock(
        meeting,
        (host, frame("round.next", turn_id=turn.pk)),
        (deputy, frame("round.next", turn_id=turn.pk)),
    )

    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    assert ("error", ErrorCode.CONFLICT) in results
    turns = list(Turn.objects.filter(round__meeting=meeting).order_by("number"))
    assert [(t.number, t.outcome, t.ended_at is None) for t in turns] == [
        (1, "done", False),
        (2, "", True),
    ]
    assert Round.objects.get(meeting=meeting).turn_number == 2
    new = list(MeetingEvent.objects.filter(meeting=meeting, seq__gt=seq).values_list("type"))
    assert new == [("turn.ended",), ("turn.started",)]


def test_next_and_skip_of_the_same_turn_at_once_apply_only_one(two_hosts):
    meeting, (host, deputy, *_members) = two_hosts
    turn = Turn.objects.get(round__meeting=meeting, ended_at__isnull=True)

    results = race_holding_the_lock(
        meeting,
        (host, frame("round.next", turn_id=turn.pk)),
        (deputy, frame("round.skip", turn_id=turn.pk)),
    )

    assert sorted(results, key=repr)[0] == ("error", ErrorCode.CONFLICT), results
    assert Turn.objects.filter(round__meeting=meeting).count() == 2
    assert Turn.objects.get(pk=turn.pk).outcome in {"done", "skipped"}


def test_racing_next_without_holding_the_lock(two_hosts):
    """The same race, released by a barrier instead, over several turns."""
    meeting, (host, deputy, *_members) = two_hosts
    for number in (1, 2, 3):
        turn = Turn.objects.get(round__meeting=meeting, ended_at__isnull=True)
        assert turn.number == number
        results: list = []
        start = threading.Barrier(2)
        threads = [
            apply_in_thread(seat, frame("round.next", turn_id=turn.pk), results, start)
            for seat in (host, deputy)
        ]
        for thread in threads:
            thread.join(timeout=10)
        assert sorted(kind for kind, _ in results) == ["error", "ok"], results
        assert ("error", ErrorCode.CONFLICT) in results
    assert Turn.objects.filter(round__meeting=meeting).count() == 4
    assert Round.objects.get(meeting=meeting).turn_number == 4


def test_two_round_starts_at_once_make_one_round(circle, facilitator):
    second = factories.make_member(circle, alias="Deputy")
    second = group_services.membership_set_role(
        actor=facilitator, membership=second, role="facilitator"
    )
    meeting = factories.make_meeting(circle)
    host, deputy = enter(facilitator, meeting), enter(second, meeting)

    results = race_holding_the_lock(
        meeting,
        (host, frame("round.start", kind="check_in")),
        (deputy, frame("round.start", kind="topic")),
    )

    assert sorted(kind for kind, _ in results) == ["error", "ok"], results
    assert ("error", ErrorCode.CONFLICT) in results
    assert Round.objects.filter(meeting=meeting).count() == 1
    assert Turn.objects.filter(round__meeting=meeting).count() == 1


def test_hands_raised_at_once_are_all_queued(circle, facilitator):
    members = [factories.make_member(circle, alias=f"M{n}") for n in range(3)]
    meeting = factories.make_meeting(circle)
    seats = [enter(m, meeting) for m in members]

    results = race_holding_the_lock(meeting, *[(seat, frame("hand.raise")) for seat in seats])

    assert [kind for kind, _ in results] == ["ok"] * 3, results
    meeting.refresh_from_db()
    assert sorted(e["membership_id"] for e in meeting.queue) == sorted(m.pk for m in members)
    seqs = list(MeetingEvent.objects.filter(meeting=meeting).values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
