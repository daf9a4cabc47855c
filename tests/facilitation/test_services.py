"""Facilitation frames against the database: rounds, the talking order, prompts and the
agenda, applied through realtime.dispatch.perform exactly as the consumer does.

Sync tests in one transaction each. A refused frame must leave no trace: every rule test
tries to break the rule and then checks that the rows and the event log did not move.
"""

import datetime as dt
import json
from itertools import pairwise

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from facilitation import services as facilitation
from facilitation.models import (
    FeelingShare,
    FloorHold,
    Prompt,
    PromptUse,
    Round,
    Script,
    ScriptStep,
    Turn,
)
from facilitation.scripts import ScriptError, script_copy, script_set_default
from groups.models import Meeting, MeetingStatus, Membership, MembershipStatus
from realtime import presence, services
from realtime.dispatch import perform
from realtime.protocol import parse_frame
from realtime.selectors import meeting_snapshot
from room.context import Seat
from room.errors import ErrorCode, RoomError
from room.models import MeetingEvent
from tests import factories

pytestmark = pytest.mark.django_db

FACILITATOR_FRAMES = [
    {"type": "round.start", "kind": "check_in"},
    {"type": "round.next", "turn_id": 1},
    {"type": "round.skip", "turn_id": 1},
    {"type": "round.end"},
    {"type": "floor.grant", "membership_id": 1},
    {"type": "floor.release"},
    {"type": "queue.move", "membership_id": 1, "position": 0},
    {"type": "queue.mode", "progressive": True},
    {"type": "prompt.push", "prompt": "What did you do today?"},
    {"type": "phase.set", "step_id": None},
]


# Helpers ------------------------------------------------------------------------------


def enter(membership: Membership, meeting: Meeting, now: dt.datetime | None = None):
    return factories.enter_room(membership, meeting, now=now)


def leave(seat, *, seconds_ago: float = 0) -> presence.Departure | None:
    """Close his only connection `seconds_ago` (past the grace period when large)."""
    return presence.room_leave(seat=seat, now=timezone.now() - dt.timedelta(seconds=seconds_ago))


def gone(seat) -> None:
    """He left and the grace period ran out without him coming back."""
    departure = leave(seat, seconds_ago=60)
    assert departure is not None
    assert presence.room_absence_confirm(departure=departure)


def send(seat, frame_type: str, *, now: dt.datetime | None = None, **fields):
    frame = parse_frame(json.dumps({"type": frame_type, **fields}))
    return perform(seat=seat, command=frame.command, now=now or timezone.now())


def refused(seat, frame_type: str, **fields) -> str:
    """Send a frame that must be refused; returns its error code."""
    with pytest.raises(RoomError) as caught:
        send(seat, frame_type, **fields)
    return caught.value.code


def chat(seat, body: str = "hello", now: dt.datetime | None = None):
    return services.chat_send(seat=seat, body=body, client_id=None, now=now or timezone.now())


def chat_refused(seat, body: str = "hello") -> str:
    with pytest.raises(RoomError) as caught:
        chat(seat, body)
    return caught.value.code


def events(meeting: Meeting, after: int = 0) -> list[dict]:
    return [
        {"type": e.type, "seq": e.seq, **e.payload}
        for e in MeetingEvent.objects.filter(meeting=meeting, seq__gt=after).order_by("seq")
    ]


def newest_seq(meeting: Meeting) -> int:
    last = MeetingEvent.objects.filter(meeting=meeting).order_by("-seq").first()
    return last.seq if last else 0


def types(meeting: Meeting, after: int = 0) -> list[str]:
    return [e["type"] for e in events(meeting, after)]


def live_round(meeting: Meeting) -> Round:
    return Round.objects.get(meeting=meeting, ended_at__isnull=True)


def open_turn(meeting: Meeting) -> Turn:
    return Turn.objects.get(round__meeting=meeting, ended_at__isnull=True)


def round_rows(meeting: Meeting) -> list[tuple]:
    """Everything a round is made of, to compare before and after a refused frame."""
    rounds = list(
        Round.objects.filter(meeting=meeting).values_list(
            "pk", "order", "outcomes", "current", "turn_number", "ended_at"
        )
    )
    turns = list(
        Turn.objects.filter(round__meeting=meeting)
        .order_by("pk")
        .values_list("pk", "membership_id", "ended_at", "outcome")
    )
    return [*rounds, *turns]


def snapshot(seat) -> dict:
    return meeting_snapshot(meeting_pk=seat.meeting_pk, membership_id=seat.membership_id)


def queue_ids(meeting: Meeting) -> list[int]:
    meeting.refresh_from_db()
    return [e["membership_id"] for e in meeting.queue]


# Fixtures -----------------------------------------------------------------------------


@pytest.fixture
def meeting(circle):
    return factories.make_meeting(circle)


@pytest.fixture
def ann(circle):
    return factories.make_member(circle, alias="Ann")


@pytest.fixture
def bob(circle):
    return factories.make_member(circle, alias="Bob")


@pytest.fixture
def cal(circle):
    return factories.make_member(circle, alias="Cal")


@pytest.fixture
def seats(meeting, facilitator, ann, bob):
    """Facilitator, Ann and Bob in the room, in that seating order."""
    return enter(facilitator, meeting), enter(ann, meeting), enter(bob, meeting)


@pytest.fixture
def in_round(meeting, seats):
    """A seating-order check-in round: the facilitator speaks first."""
    host, _ann, _bob = seats
    send(host, "round.start", kind="check_in", order="seating")
    return seats


def turn_to(meeting: Meeting, host, membership: Membership) -> Turn:
    """Advance with round.next until it's `membership`'s turn."""
    for _ in range(10):
        turn = open_turn(meeting)
        if turn.membership_id == membership.pk:
            return turn
        send(host, "round.next", turn_id=turn.pk)
    raise AssertionError("never reached his turn")


# Rounds: starting ---------------------------------------------------------------------


def test_round_start_in_seating_order_starts_the_first_turn(meeting, seats, facilitator, ann, bob):
    host = seats[0]
    before = newest_seq(meeting)

    accepted = send(host, "round.start", kind="check_in", order="seating", prompt="How's today?")

    round_ = live_round(meeting)
    assert round_.order == [facilitator.pk, ann.pk, bob.pk]
    started, turn_started = events(meeting, before)
    assert started["type"] == "round.started"
    assert started["round"]["order"] == [facilitator.pk, ann.pk, bob.pk]
    assert started["round"]["kind"] == "check_in"
    assert started["round"]["prompt"] == {"id": None, "text": "How's today?", "strategy": None}
    assert turn_started["type"] == "turn.started"
    assert turn_started["membership_id"] == facilitator.pk
    assert turn_started["turn_id"] == open_turn(meeting).pk
    assert turn_started["round_id"] == round_.pk
    assert turn_started["deadline"] is None
    assert accepted.seq == turn_started["seq"]


def test_round_start_facilitator_first_puts_facilitators_ahead(
    meeting, facilitator, ann, bob, circle
):
    enter(ann, meeting)
    enter(bob, meeting)
    host = enter(facilitator, meeting)

    send(host, "round.start", kind="topic", order="facilitator_first")

    assert live_round(meeting).order == [facilitator.pk, ann.pk, bob.pk]
    assert open_turn(meeting).membership_id == facilitator.pk


def test_round_start_random_uses_a_shuffle_of_everyone_present(
    meeting, seats, facilitator, ann, bob, monkeypatch
):
    class Reversing:
        def shuffle(self, items):
            items.reverse()

    monkeypatch.setattr(facilitation.random, "SystemRandom", Reversing)

    send(seats[0], "round.start", kind="check_out", order="random")

    assert live_round(meeting).order == [bob.pk, ann.pk, facilitator.pk]
    assert live_round(meeting).order_kind == "random"
    assert open_turn(meeting).membership_id == bob.pk


def test_round_start_leaves_out_people_who_are_not_here(meeting, seats, facilitator, bob):
    gone(seats[1])  # Ann

    send(seats[0], "round.start", kind="check_in")

    assert live_round(meeting).order == [facilitator.pk, bob.pk]


def test_a_second_round_start_while_one_runs_is_a_conflict(meeting, in_round):
    before = round_rows(meeting), newest_seq(meeting)

    assert refused(in_round[0], "round.start", kind="topic") == ErrorCode.CONFLICT

    assert (round_rows(meeting), newest_seq(meeting)) == before
    assert Round.objects.filter(meeting=meeting).count() == 1


def test_round_start_before_the_circle_opens_is_not_live(circle, facilitator, ann):
    meeting = factories.make_meeting(circle, status=MeetingStatus.SCHEDULED)
    host = enter(facilitator, meeting)
    enter(ann, meeting)

    assert refused(host, "round.start", kind="check_in") == ErrorCode.NOT_LIVE
    assert not Round.objects.filter(meeting=meeting).exists()


@pytest.mark.parametrize("frame", FACILITATOR_FRAMES, ids=lambda f: f["type"])
def test_members_cannot_run_rounds_queue_prompts_or_agenda(meeting, in_round, ann, frame):
    host, ann_seat, _bob = in_round
    send(ann_seat, "hand.raise")
    meeting.refresh_from_db()
    before = (round_rows(meeting), newest_seq(meeting), meeting.queue, meeting.floor_holder_id)
    fields = dict(frame)
    if "turn_id" in fields:
        fields["turn_id"] = open_turn(meeting).pk
    if "membership_id" in fields:
        fields["membership_id"] = ann.pk

    assert refused(ann_seat, fields.pop("type"), **fields) == ErrorCode.FORBIDDEN

    meeting.refresh_from_db()
    after = (round_rows(meeting), newest_seq(meeting), meeting.queue, meeting.floor_holder_id)
    assert after == before
    assert not PromptUse.objects.exists()


def test_rights_are_read_per_frame_not_at_connect(meeting, seats, circle, facilitator, ann):
    """A facilitator demoted mid-meeting, and a seat forged for another circle's member,
    can run nothing, whatever their connection was told."""
    deputy = factories.make_member(circle, alias="Deputy")
    Membership.objects.filter(pk=deputy.pk).update(role="facilitator")
    deputy_seat = enter(deputy, meeting)
    assert deputy_seat.is_facilitator
    Membership.objects.filter(pk=deputy.pk).update(role="member")
    stranger = factories.make_member(factories.make_circle(), alias="Stranger")
    forged = Seat(
        meeting_pk=meeting.pk,
        membership_id=stranger.pk,
        user_id=stranger.user_id,
        is_facilitator=True,
    )

    assert refused(deputy_seat, "round.start", kind="check_in") == ErrorCode.FORBIDDEN
    with pytest.raises(RoomError) as caught:
        send(forged, "round.start", kind="check_in")
    assert (caught.value.code, caught.value.close_code) == (ErrorCode.FORBIDDEN, 4403)
    with pytest.raises(RoomError) as caught:
        send(forged, "hand.raise")
    assert caught.value.close_code == 4403

    assert not Round.objects.exists()
    assert queue_ids(meeting) == []


# Rounds: turns ------------------------------------------------------------------------


def test_only_the_speaker_ends_his_turn(meeting, in_round, facilitator, ann):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")  # the facilitator speaks first, then Ann
    before = round_rows(meeting), newest_seq(meeting)

    for seat in (bob_seat, host):  # another member, and a facilitator who isn't speaking
        assert refused(seat, "turn.done") == ErrorCode.NOT_YOUR_TURN
        assert refused(seat, "turn.pass") == ErrorCode.NOT_YOUR_TURN

    assert (round_rows(meeting), newest_seq(meeting)) == before
    assert open_turn(meeting).membership_id == ann.pk


def test_turn_done_and_pass_end_the_turn_and_start_the_next(meeting, in_round, ann, bob):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")
    first = open_turn(meeting)
    seq = newest_seq(meeting)

    send(ann_seat, "turn.pass", turn_id=first.pk)

    ended, started = events(meeting, seq)
    assert ended["type"] == "turn.ended"
    assert (ended["membership_id"], ended["outcome"], ended["turn_id"]) == (
        ann.pk,
        "passed",
        first.pk,
    )
    assert started["type"] == "turn.started"
    assert started["membership_id"] == bob.pk
    assert Turn.objects.get(pk=first.pk).outcome == "passed"
    assert Turn.objects.filter(round__meeting=meeting, ended_at__isnull=True).count() == 1

    seq = newest_seq(meeting)
    send(bob_seat, "turn.done")
    assert types(meeting, seq) == ["turn.ended", "round.ended"]
    assert live_round_or_none(meeting) is None
    outcomes = Round.objects.get(meeting=meeting).outcomes
    assert outcomes == ["done", "passed", "done"]


def live_round_or_none(meeting):
    return Round.objects.filter(meeting=meeting, ended_at__isnull=True).first()


def test_the_speaker_naming_an_old_turn_is_a_conflict(meeting, in_round):
    host = in_round[0]
    old = open_turn(meeting).pk
    send(host, "turn.done")
    send(host, "round.next", turn_id=open_turn(meeting).pk)
    # Now it's Bob's turn; his client still shows the facilitator's turn.
    before = round_rows(meeting), newest_seq(meeting)

    assert refused(in_round[2], "turn.done", turn_id=old) == ErrorCode.CONFLICT

    assert (round_rows(meeting), newest_seq(meeting)) == before


def test_round_next_and_skip_name_the_turn_they_mean(meeting, in_round, facilitator, ann, bob):
    host = in_round[0]
    first = open_turn(meeting)

    send(host, "round.next", turn_id=first.pk)
    second = open_turn(meeting)
    assert second.membership_id == ann.pk
    before = round_rows(meeting), newest_seq(meeting)

    # The same press again (a second facilitator, a retry) names a turn that's gone.
    assert refused(host, "round.next", turn_id=first.pk) == ErrorCode.CONFLICT
    assert refused(host, "round.skip", turn_id=first.pk) == ErrorCode.CONFLICT
    assert refused(host, "round.next", turn_id=second.pk + 1000) == ErrorCode.CONFLICT
    assert (round_rows(meeting), newest_seq(meeting)) == before

    seq = newest_seq(meeting)
    send(host, "round.skip", turn_id=second.pk)
    ended, started = events(meeting, seq)
    assert (ended["membership_id"], ended["outcome"]) == (ann.pk, "skipped")
    assert started["membership_id"] == bob.pk
    assert Turn.objects.get(pk=first.pk).outcome == "done"


def test_round_end_ends_the_round_and_frees_the_chat(meeting, in_round, bob):
    host, _ann, bob_seat = in_round
    assert chat_refused(bob_seat) == ErrorCode.NOT_YOUR_TURN
    seq = newest_seq(meeting)

    send(host, "round.end")

    assert types(meeting, seq) == ["turn.ended", "round.ended"]
    assert live_round_or_none(meeting) is None
    assert not Turn.objects.filter(round__meeting=meeting, ended_at__isnull=True).exists()
    assert refused(host, "round.end") == ErrorCode.CONFLICT
    assert refused(host, "round.next", turn_id=1) == ErrorCode.CONFLICT
    assert chat(bob_seat).seq


def test_a_new_round_can_start_after_the_last_one_ended(meeting, in_round):
    host = in_round[0]
    send(host, "round.end")

    send(host, "round.start", kind="topic")

    assert Round.objects.filter(meeting=meeting).count() == 2
    assert live_round(meeting).kind == "topic"


# Rounds: time -------------------------------------------------------------------------


def test_seconds_per_turn_sets_a_deadline_and_never_cuts_the_speaker_off(
    meeting, seats, facilitator
):
    host = seats[0]
    t0 = timezone.now()

    send(host, "round.start", kind="topic", seconds_per_turn=60, now=t0)

    turn = open_turn(meeting)
    assert turn.deadline == t0 + dt.timedelta(seconds=60)
    assert events(meeting)[-1]["deadline"] == turn.deadline.isoformat()
    # Long past the deadline the turn is still his and he can still write.
    late = t0 + dt.timedelta(minutes=10)
    assert chat(host, "still going", now=late).seq
    assert open_turn(meeting).pk == turn.pk

    t1 = t0 + dt.timedelta(seconds=100)
    send(host, "turn.done", now=t1)
    assert open_turn(meeting).deadline == t1 + dt.timedelta(seconds=60)


def test_quiet_seconds_delay_the_first_deadline(meeting, seats):
    host = seats[0]
    t0 = timezone.now()

    send(host, "round.start", kind="check_in", seconds_per_turn=60, quiet_seconds=30, now=t0)

    round_ = live_round(meeting)
    assert round_.quiet_until == t0 + dt.timedelta(seconds=30)
    started = events(meeting)[0]
    assert started["round"]["quiet_until"] == round_.quiet_until.isoformat()
    assert open_turn(meeting).deadline == t0 + dt.timedelta(seconds=90)
    # Later turns get the plain time.
    t1 = t0 + dt.timedelta(seconds=120)
    send(host, "turn.done", now=t1)
    assert open_turn(meeting).deadline == t1 + dt.timedelta(seconds=60)


def test_quiet_seconds_without_a_limit_still_sets_quiet_until(meeting, seats):
    t0 = timezone.now()
    send(seats[0], "round.start", kind="check_in", quiet_seconds=20, now=t0)

    assert live_round(meeting).quiet_until == t0 + dt.timedelta(seconds=20)
    assert open_turn(meeting).deadline is None


# Rounds: who comes and goes -------------------------------------------------------------


def test_a_late_joiner_goes_to_the_end_of_the_round(meeting, in_round, facilitator, ann, bob, cal):
    seq = newest_seq(meeting)

    enter(cal, meeting)

    (updated,) = events(meeting, seq)
    assert updated["type"] == "round.updated"
    assert updated["round"]["order"] == [facilitator.pk, ann.pk, bob.pk, cal.pk]
    assert live_round(meeting).order[-1] == cal.pk
    assert turn_to(meeting, in_round[0], cal).membership_id == cal.pk


def test_someone_already_in_the_round_reconnecting_changes_nothing(meeting, in_round, ann):
    before = round_rows(meeting), newest_seq(meeting)

    enter(ann, meeting)  # a second tab
    presence.room_leave(seat=in_round[1])
    enter(ann, meeting)  # a reload

    assert (round_rows(meeting), newest_seq(meeting)) == before


def test_the_speaker_who_leaves_is_skipped_after_the_grace_period(meeting, in_round, ann, bob):
    host, ann_seat, _bob = in_round
    send(host, "turn.done")
    ann_turn = open_turn(meeting)
    left_at = presence.room_leave(seat=ann_seat)
    # Within the grace period nothing moves: a reload must not cost him his turn.
    assert open_turn(meeting).pk == ann_turn.pk
    seq = newest_seq(meeting)

    assert presence.room_absence_confirm(departure=left_at)

    ended, started = events(meeting, seq)
    assert (ended["type"], ended["membership_id"], ended["outcome"]) == (
        "turn.ended",
        ann.pk,
        "skipped",
    )
    assert (started["type"], started["membership_id"]) == ("turn.started", bob.pk)


def test_the_speaker_who_comes_back_within_the_grace_period_keeps_his_turn(meeting, in_round):
    host, ann_seat, _bob = in_round
    send(host, "turn.done")
    ann_turn = open_turn(meeting)
    left_at = presence.room_leave(seat=ann_seat)
    enter(ann_turn.membership, meeting)
    before = round_rows(meeting), newest_seq(meeting)

    assert not presence.room_absence_confirm(departure=left_at)

    assert (round_rows(meeting), newest_seq(meeting)) == before
    assert open_turn(meeting).pk == ann_turn.pk


def test_who_reconnects_before_his_turn_keeps_his_place(meeting, in_round, ann, bob):
    host, ann_seat, bob_seat = in_round
    gone(bob_seat)
    enter(bob, meeting)

    send(host, "turn.done")
    send(ann_seat, "turn.done")

    assert open_turn(meeting).membership_id == bob.pk
    assert live_round(meeting).order.count(bob.pk) == 1


def test_who_is_away_when_his_turn_comes_is_passed_over(meeting, in_round, ann, bob):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")
    gone(bob_seat)
    seq = newest_seq(meeting)

    send(ann_seat, "turn.done")

    assert types(meeting, seq) == ["turn.ended", "round.ended"]
    assert Round.objects.get(meeting=meeting).outcomes == ["done", "done", "skipped"]
    assert not Turn.objects.filter(membership=bob).exists()


def test_a_flaky_connection_when_his_turn_comes_does_not_cost_him_the_turn(
    meeting, in_round, ann, bob
):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")
    left_at = presence.room_leave(seat=bob_seat)  # his page reloads as Ann finishes

    send(ann_seat, "turn.done")

    bob_turn = open_turn(meeting)
    assert bob_turn.membership_id == bob.pk
    # ...and if he really is gone, the grace period ends his turn.
    presence.room_absence_confirm(departure=left_at)
    assert Turn.objects.get(pk=bob_turn.pk).outcome == "skipped"
    assert live_round_or_none(meeting) is None


def test_a_round_survives_everyone_reconnecting(meeting, in_round, facilitator, ann, bob):
    host = in_round[0]
    send(host, "turn.done")
    before_snapshot = snapshot(in_round[0])["round"]
    before = round_rows(meeting), newest_seq(meeting)

    for seat in in_round:
        presence.room_leave(seat=seat)
    new_seats = [enter(m, meeting) for m in (facilitator, ann, bob)]

    assert (round_rows(meeting), newest_seq(meeting)) == before
    assert snapshot(new_seats[0])["round"] == before_snapshot
    assert snapshot(new_seats[1])["round"]["current"]["membership_id"] == ann.pk


def test_removing_the_speaker_skips_his_turn(meeting, in_round, ann, bob):
    host, ann_seat, _bob = in_round
    send(host, "turn.done")
    ann_turn = open_turn(meeting)
    seq = newest_seq(meeting)

    send(host, "member.remove", membership_id=ann.pk)

    ended, started, *rest = events(meeting, seq)
    assert (ended["type"], ended["membership_id"], ended["outcome"]) == (
        "turn.ended",
        ann.pk,
        "skipped",
    )
    assert (started["type"], started["membership_id"]) == ("turn.started", bob.pk)
    assert rest[-1]["type"] == "member.removed"
    assert Turn.objects.get(pk=ann_turn.pk).outcome == "skipped"
    assert Membership.objects.get(pk=ann.pk).status == MembershipStatus.REMOVED


def test_removing_someone_waiting_for_his_turn_leaves_the_speaker_alone(
    meeting, in_round, facilitator, ann, bob
):
    host = in_round[0]
    speaker = open_turn(meeting)
    seq = newest_seq(meeting)

    send(host, "member.remove", membership_id=ann.pk)

    assert open_turn(meeting).pk == speaker.pk  # the facilitator still has the floor
    assert types(meeting, seq)[0] == "round.updated"
    assert live_round(meeting).outcomes == [None, "skipped", None]
    send(host, "round.next", turn_id=speaker.pk)
    assert open_turn(meeting).membership_id == bob.pk


def test_a_removed_member_in_the_queue_leaves_it(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")
    send(host, "floor.grant", membership_id=ann.pk)
    send(host, "member.remove", membership_id=bob.pk)
    send(host, "member.remove", membership_id=ann.pk)

    meeting.refresh_from_db()
    assert meeting.queue == []
    assert meeting.floor_holder_id is None


def test_ending_the_meeting_ends_the_round(meeting, in_round):
    send(in_round[0], "meeting.end")

    assert live_round_or_none(meeting) is None
    assert not Turn.objects.filter(round__meeting=meeting, ended_at__isnull=True).exists()


# Rounds: who may write ---------------------------------------------------------------


def test_during_a_round_only_the_speaker_and_facilitators_chat(meeting, in_round, ann):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")  # Ann speaks
    message = chat(ann_seat, "my check-in")
    seq = newest_seq(meeting)

    assert chat_refused(bob_seat, "me too!") == ErrorCode.NOT_YOUR_TURN
    assert newest_seq(meeting) == seq
    assert chat(host, "thank you").seq == seq + 1
    # Reactions stay open to everyone.
    assert send(bob_seat, "reaction.send", target_seq=message.seq, kind="heard").seq


def test_talking_piece_outside_rounds(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(host, "queue.mode", talking_piece=True)
    send(host, "floor.grant", membership_id=ann.pk)
    seq = newest_seq(meeting)

    assert chat_refused(bob_seat) == ErrorCode.NOT_YOUR_TURN
    assert newest_seq(meeting) == seq
    assert chat(ann_seat).seq
    assert chat(host).seq

    send(host, "floor.release")
    assert chat_refused(ann_seat) == ErrorCode.NOT_YOUR_TURN
    send(host, "queue.mode", talking_piece=False)
    assert chat(bob_seat).seq


def test_a_round_outranks_the_talking_piece(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(host, "queue.mode", talking_piece=True)
    send(host, "floor.grant", membership_id=ann.pk)
    send(host, "round.start", kind="topic")  # the facilitator speaks first

    assert chat_refused(ann_seat) == ErrorCode.NOT_YOUR_TURN


# Feelings -----------------------------------------------------------------------------


def test_the_speaker_shares_feelings_in_a_check_in(meeting, in_round, ann):
    host, ann_seat, _bob = in_round
    send(host, "turn.done")
    seq = newest_seq(meeting)

    send(ann_seat, "feelings.share", words=["Tired", "hopeful", "tired", "not enough"], weather=4)

    (shared,) = events(meeting, seq)
    assert shared["type"] == "feelings.shared"
    assert shared["words"] == ["tired", "hopeful", "not enough"]
    assert shared["weather"] == 4
    assert shared["membership_id"] == ann.pk
    share = FeelingShare.objects.get()
    assert (share.membership_id, share.words, share.weather) == (
        ann.pk,
        ["tired", "hopeful", "not enough"],
        4,
    )
    assert share.turn_id == open_turn(meeting).pk


@pytest.mark.parametrize(
    "fields",
    [
        {"words": ["hangry"]},
        {"words": ["calm", "<script>"]},
        {"words": []},
        {"weather": 0},
        {"weather": 11},
        {"weather": "7"},
    ],
)
def test_feelings_refuses_unknown_words_and_weather(meeting, in_round, fields):
    host, ann_seat, _bob = in_round
    send(host, "turn.done")
    seq = newest_seq(meeting)

    assert refused(ann_seat, "feelings.share", **fields) == ErrorCode.INVALID

    assert newest_seq(meeting) == seq
    assert not FeelingShare.objects.exists()


def test_feelings_are_for_the_speaker_only(meeting, in_round):
    host, ann_seat, bob_seat = in_round
    send(host, "turn.done")

    assert refused(bob_seat, "feelings.share", words=["calm"]) == ErrorCode.NOT_YOUR_TURN
    assert refused(host, "feelings.share", words=["calm"]) == ErrorCode.NOT_YOUR_TURN
    assert not FeelingShare.objects.exists()


def test_feelings_outside_a_check_in_round_are_forbidden(meeting, seats):
    host = seats[0]
    assert refused(host, "feelings.share", words=["calm"]) == ErrorCode.NOT_YOUR_TURN

    send(host, "round.start", kind="topic")
    assert refused(host, "feelings.share", words=["calm"], weather=5) == ErrorCode.FORBIDDEN
    assert not FeelingShare.objects.exists()


# Talking order ------------------------------------------------------------------------


def test_hands_queue_in_the_order_raised_and_only_once(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    t0 = timezone.now()
    send(bob_seat, "hand.raise", now=t0)
    send(ann_seat, "hand.raise", now=t0 + dt.timedelta(seconds=1))
    seq = newest_seq(meeting)

    accepted = send(bob_seat, "hand.raise", now=t0 + dt.timedelta(seconds=2))  # a double click

    assert accepted.seq is None
    assert newest_seq(meeting) == seq
    assert queue_ids(meeting) == [bob.pk, ann.pk]
    (updated,) = [e for e in events(meeting) if e["type"] == "queue.updated"][-1:]
    assert [e["membership_id"] for e in updated["queue"]] == [bob.pk, ann.pk]
    assert [e["alias"] for e in updated["queue"]] == ["Bob", "Ann"]
    assert updated["queue"][0]["raised_at"] == t0.isoformat()
    assert updated["floor"] is None
    assert updated["mode"] == {"talking_piece": False, "progressive": False}


def test_hand_lower_leaves_the_queue(meeting, seats, ann, bob):
    _host, ann_seat, bob_seat = seats
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")
    seq = newest_seq(meeting)

    send(ann_seat, "hand.lower")

    (updated,) = events(meeting, seq)
    assert [e["membership_id"] for e in updated["queue"]] == [bob.pk]
    assert queue_ids(meeting) == [bob.pk]
    send(ann_seat, "hand.lower")  # not queued: nothing to do
    assert newest_seq(meeting) == seq + 1


def test_floor_grant_takes_him_off_the_queue_and_release_frees_it(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")
    seq = newest_seq(meeting)

    send(host, "floor.grant", membership_id=ann.pk)

    granted, updated = events(meeting, seq)
    assert (granted["type"], granted["membership_id"]) == ("floor.granted", ann.pk)
    assert updated["type"] == "queue.updated"
    assert updated["floor"] == ann.pk
    assert [e["membership_id"] for e in updated["queue"]] == [bob.pk]
    assert FloorHold.objects.get(ended_at__isnull=True).membership_id == ann.pk
    # The floor holder raising again is a stale view: refused, and he stays off the queue.
    assert refused(ann_seat, "hand.raise") == ErrorCode.CONFLICT
    assert queue_ids(meeting) == [bob.pk]

    seq = newest_seq(meeting)
    send(host, "floor.release")
    released, updated = events(meeting, seq)
    assert (released["type"], released["membership_id"]) == ("floor.released", ann.pk)
    assert updated["floor"] is None
    assert not FloorHold.objects.filter(ended_at__isnull=True).exists()


def test_floor_grant_to_someone_outside_the_circle_is_not_found(meeting, seats):
    other = factories.make_member(factories.make_circle(), alias="Stranger")
    meeting.refresh_from_db()
    before = newest_seq(meeting), meeting.floor_holder_id

    assert refused(seats[0], "floor.grant", membership_id=other.pk) == ErrorCode.NOT_FOUND

    meeting.refresh_from_db()
    assert (newest_seq(meeting), meeting.floor_holder_id) == before


def test_queue_move_reorders_and_refuses_who_isnt_queued(meeting, seats, cal, ann, bob):
    host, ann_seat, bob_seat = seats
    cal_seat = enter(cal, meeting)
    for seat in (ann_seat, bob_seat, cal_seat):
        send(seat, "hand.raise")

    send(host, "queue.move", membership_id=cal.pk, position=0)
    assert queue_ids(meeting) == [cal.pk, ann.pk, bob.pk]
    send(host, "queue.move", membership_id=cal.pk, position=99)
    assert queue_ids(meeting) == [ann.pk, bob.pk, cal.pk]

    seq = newest_seq(meeting)
    assert refused(host, "queue.move", membership_id=host.membership_id, position=0) == (
        ErrorCode.NOT_FOUND
    )
    assert refused(host, "queue.move", membership_id=ann.pk, position=-1) == ErrorCode.INVALID
    assert newest_seq(meeting) == seq
    assert queue_ids(meeting) == [ann.pk, bob.pk, cal.pk]


def test_queue_remove_lowers_someone_elses_hand(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")

    send(host, "queue.remove", membership_id=ann.pk)
    assert queue_ids(meeting) == [bob.pk]

    seq = newest_seq(meeting)
    assert refused(host, "queue.remove", membership_id=ann.pk) == ErrorCode.NOT_FOUND
    assert refused(ann_seat, "queue.remove", membership_id=bob.pk) == ErrorCode.FORBIDDEN
    assert newest_seq(meeting) == seq
    assert queue_ids(meeting) == [bob.pk]


def test_progressive_mode_puts_who_has_not_spoken_first(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    # Ann speaks in a round, Bob doesn't get to.
    send(host, "round.start", kind="check_in")
    send(host, "turn.done")
    send(ann_seat, "turn.done")
    send(host, "round.skip", turn_id=open_turn(meeting).pk)  # Bob's turn: the round ends
    assert live_round_or_none(meeting) is None
    send(host, "queue.mode", progressive=True)

    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")

    assert queue_ids(meeting) == [bob.pk, ann.pk]
    updated = events(meeting)[-1]
    assert updated["mode"] == {"talking_piece": False, "progressive": True}


def test_switching_progressive_on_resorts_the_queue_once(meeting, seats, ann, bob):
    host, ann_seat, bob_seat = seats
    send(host, "floor.grant", membership_id=ann.pk)  # Ann has spoken
    send(host, "floor.release")
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")
    assert queue_ids(meeting) == [ann.pk, bob.pk]

    send(host, "queue.mode", progressive=True)

    assert queue_ids(meeting) == [bob.pk, ann.pk]
    # The facilitator's own order survives toggling the talking piece.
    send(host, "queue.move", membership_id=ann.pk, position=0)
    send(host, "queue.mode", talking_piece=True)
    assert queue_ids(meeting) == [ann.pk, bob.pk]


def test_a_member_who_drops_and_reconnects_keeps_his_queue_place(meeting, seats, ann, bob):
    _host, ann_seat, bob_seat = seats
    send(ann_seat, "hand.raise")
    send(bob_seat, "hand.raise")

    gone(ann_seat)
    enter(ann, meeting)

    assert queue_ids(meeting) == [ann.pk, bob.pk]


def test_facilitators_see_who_spoke_how_much(meeting, seats, facilitator, ann, bob):
    host, ann_seat, _bob = seats
    t0 = timezone.now() - dt.timedelta(minutes=5)
    send(host, "round.start", kind="check_in", now=t0)
    send(host, "turn.done", now=t0 + dt.timedelta(seconds=30))
    send(ann_seat, "turn.done", now=t0 + dt.timedelta(seconds=120))
    send(host, "round.end", now=t0 + dt.timedelta(seconds=121))  # Bob's turn, cut short
    send(host, "floor.grant", membership_id=ann.pk, now=t0 + dt.timedelta(seconds=130))
    send(host, "floor.release", now=t0 + dt.timedelta(seconds=160))

    speaking = snapshot(host)["facilitator"]["speaking"]

    assert speaking[str(facilitator.pk)] == {"count": 1, "seconds": 30}
    assert speaking[str(ann.pk)] == {"count": 2, "seconds": 90 + 30}
    assert speaking[str(bob.pk)]["count"] == 1  # round.end counts his turn as taken
    assert "facilitator" not in snapshot(ann_seat)


def test_raising_a_hand_before_the_circle_opens_is_not_live(circle, facilitator, ann):
    meeting = factories.make_meeting(circle, status=MeetingStatus.SCHEDULED)
    ann_seat = enter(ann, meeting)

    assert refused(ann_seat, "hand.raise") == ErrorCode.NOT_LIVE
    assert queue_ids(meeting) == []


# Prompts ------------------------------------------------------------------------------


def builtin(kind: str) -> Prompt:
    prompt = Prompt.objects.filter(circle__isnull=True, kind=kind).first()
    assert prompt is not None, f"the built-in library has a {kind} prompt"
    return prompt


def test_prompt_push_of_a_built_in_prompt(meeting, seats):
    host = seats[0]
    prompt = builtin("men")
    t0 = timezone.now()
    seq = newest_seq(meeting)

    send(host, "prompt.push", prompt_id=prompt.pk, now=t0)

    (pushed,) = events(meeting, seq)
    assert pushed["type"] == "prompt.pushed"
    assert pushed["prompt"] == {"id": prompt.pk, "text": prompt.text, "strategy": prompt.strategy}
    use = PromptUse.objects.get()
    assert (use.prompt_id, use.circle_id, use.meeting_id, use.used_at) == (
        prompt.pk,
        meeting.circle_id,
        meeting.pk,
        t0,
    )
    library = {p["id"]: p for p in snapshot(host)["facilitator"]["prompts"]}
    assert library[prompt.pk]["last_used"] == t0.isoformat()
    assert all(p["last_used"] is None for pk, p in library.items() if pk != prompt.pk)


def test_prompt_push_of_the_circles_own_prompt(meeting, seats, circle, facilitator):
    own = Prompt.objects.create(
        text="What would you tell your younger self?",
        strategy="pattern_recognition",
        kind="men",
        phase="sharing",
        depth=2,
        circle=circle,
        created_by=facilitator,
    )

    send(seats[0], "prompt.push", prompt_id=own.pk)

    assert events(meeting)[-1]["prompt"]["id"] == own.pk
    library = {p["id"]: p for p in snapshot(seats[0])["facilitator"]["prompts"]}
    assert library[own.pk]["own"] is True
    assert library[own.pk]["last_used"] is not None


def test_prompt_of_another_circle_or_audience_is_not_found(meeting, seats):
    other_circle = factories.make_circle()
    foreign = Prompt.objects.create(
        text="A question of theirs.",
        strategy="small_wins",
        kind="men",
        phase="sharing",
        depth=1,
        circle=other_circle,
    )
    partners_only = builtin("partners")
    seq = newest_seq(meeting)

    for prompt in (foreign, partners_only):
        assert refused(seats[0], "prompt.push", prompt_id=prompt.pk) == ErrorCode.NOT_FOUND
        assert refused(seats[0], "round.start", kind="topic", prompt_id=prompt.pk) == (
            ErrorCode.NOT_FOUND
        )
    assert refused(seats[0], "prompt.push", prompt_id=10**9) == ErrorCode.NOT_FOUND

    assert newest_seq(meeting) == seq
    assert not PromptUse.objects.exists()
    assert not Round.objects.exists()


def test_a_free_text_prompt_is_pushed_without_a_library_entry(meeting, seats):
    send(seats[0], "prompt.push", prompt="What did you do with your hands this week?")

    pushed = events(meeting)[-1]
    assert pushed["prompt"] == {
        "id": None,
        "text": "What did you do with your hands this week?",
        "strategy": None,
    }
    assert not PromptUse.objects.exists()
    assert refused(seats[0], "prompt.push") == ErrorCode.INVALID


def test_a_round_on_a_library_prompt_records_its_use(meeting, seats):
    prompt = Prompt.objects.filter(circle__isnull=True, kind="both", phase="check_in").first()

    send(seats[0], "round.start", kind="check_in", prompt_id=prompt.pk)

    assert live_round(meeting).prompt_id == prompt.pk
    assert events(meeting)[0]["round"]["prompt"]["id"] == prompt.pk
    assert PromptUse.objects.filter(prompt=prompt, meeting=meeting).count() == 1


@pytest.mark.parametrize(("kind", "never"), [("men", "partners"), ("partners", "men")])
def test_the_library_offers_only_prompts_for_the_circles_kind(kind, never):
    circle = factories.make_circle(kind=kind)
    other = factories.make_circle(kind=kind)
    Prompt.objects.create(
        text="Another circle's own question.",
        strategy="small_wins",
        kind=kind,
        phase="sharing",
        depth=1,
        circle=other,
    )
    meeting = factories.make_meeting(circle)
    host = enter(factories.facilitator_of(circle), meeting)

    library = snapshot(host)["facilitator"]["prompts"]

    ids = {p["id"] for p in library}
    kinds = set(Prompt.objects.filter(pk__in=ids).values_list("kind", flat=True))
    assert kinds == {kind, "both"}
    assert never not in kinds
    assert not Prompt.objects.filter(pk__in=ids, circle__isnull=False).exists()
    expected = Prompt.objects.filter(circle__isnull=True, kind__in=[kind, "both"]).count()
    assert len(ids) == expected


# Agenda -------------------------------------------------------------------------------


def steps_of(key: str) -> list[ScriptStep]:
    return list(ScriptStep.objects.filter(script__key=key).order_by("position"))


def test_phase_set_announces_the_step_without_the_notes(meeting, seats):
    step = next(s for s in steps_of("men_weekly") if s.notes)
    seq = newest_seq(meeting)

    send(seats[0], "phase.set", step_id=step.pk)

    (changed,) = events(meeting, seq)
    assert changed["type"] == "phase.changed"
    assert changed["step"]["id"] == step.pk
    assert changed["step"]["title"] == step.title
    assert changed["step"]["purpose"] == step.purpose
    assert "notes" not in changed["step"]
    assert step.notes not in json.dumps(changed)
    meeting.refresh_from_db()
    assert meeting.current_step_id == step.pk
    assert meeting.script.key == "men_weekly"
    assert snapshot(seats[1])["meeting"]["step"]["id"] == step.pk


def test_phase_set_with_a_step_of_another_script_is_not_found(meeting, seats):
    seq = newest_seq(meeting)

    for key in ("partner_weekly", "first_meeting"):
        step = steps_of(key)[0]
        assert refused(seats[0], "phase.set", step_id=step.pk) == ErrorCode.NOT_FOUND
    assert refused(seats[0], "phase.set", step_id=10**9) == ErrorCode.NOT_FOUND

    assert newest_seq(meeting) == seq
    meeting.refresh_from_db()
    assert meeting.current_step_id is None


def test_phase_set_null_clears_the_step(meeting, seats):
    send(seats[0], "phase.set", step_id=steps_of("men_weekly")[1].pk)

    send(seats[0], "phase.set", step_id=None)

    assert events(meeting)[-1]["step"] is None
    meeting.refresh_from_db()
    assert meeting.current_step_id is None


def test_the_agenda_shows_notes_to_facilitators_only(meeting, seats):
    host, ann_seat, _bob = seats

    member_agenda = snapshot(ann_seat)["meeting"]["agenda"]
    facilitator_agenda = snapshot(host)["meeting"]["agenda"]

    steps = steps_of("men_weekly")
    assert member_agenda["id"] == facilitator_agenda["id"] == steps[0].script_id
    assert [s["id"] for s in member_agenda["steps"]] == [s.pk for s in steps]
    assert all("notes" not in s for s in member_agenda["steps"])
    notes = [s.notes for s in steps if s.notes]
    assert notes
    assert not any(note in json.dumps(snapshot(ann_seat)) for note in notes)
    assert [s["notes"] for s in facilitator_agenda["steps"]] == [s.notes for s in steps]


def test_a_partner_circle_runs_the_partner_script():
    circle = factories.make_circle(kind="partners")
    meeting = factories.make_meeting(circle)
    host = enter(factories.facilitator_of(circle), meeting)
    men_step = steps_of("men_weekly")[0]
    step = steps_of("partner_weekly")[0]

    assert refused(host, "phase.set", step_id=men_step.pk) == ErrorCode.NOT_FOUND
    send(host, "phase.set", step_id=step.pk)

    assert snapshot(host)["meeting"]["agenda"]["id"] == step.script_id


# Scripts: a circle's own copy ------------------------------------------------------------


def test_script_copy_makes_the_circles_own_editable_copy(circle, facilitator):
    original = Script.objects.get(key="men_weekly")

    copy = script_copy(actor=facilitator, circle=circle, script=original)

    assert copy.pk != original.pk
    assert (copy.circle_id, copy.key, copy.based_on_id, copy.kind) == (
        circle.pk,
        None,
        original.pk,
        "men",
    )
    fields = ("position", "title", "purpose", "notes", "minutes", "round_kind", "prompt_id")
    assert list(copy.steps.order_by("position").values_list(*fields)) == list(
        original.steps.order_by("position").values_list(*fields)
    )
    # Editing the copy leaves the built-in alone.
    copy.steps.filter(position=1).update(title="Our own opening", minutes=20)
    assert original.steps.get(position=1).title != "Our own opening"
    assert original.total_minutes == 90
    circle.refresh_from_db()
    assert circle.default_script_id is None


def test_script_copy_can_become_the_circles_default_agenda(circle, facilitator):
    copy = script_copy(
        actor=facilitator,
        circle=circle,
        script=Script.objects.get(key="first_meeting"),
        name="Our first evening",
        make_default=True,
    )

    circle.refresh_from_db()
    assert circle.default_script_id == copy.pk
    assert copy.name == "Our first evening"
    assert copy.kind == "men"
    meeting = factories.make_meeting(circle)
    host = enter(facilitator, meeting)
    assert snapshot(host)["meeting"]["agenda"]["id"] == copy.pk
    step = copy.steps.order_by("position").first()
    send(host, "phase.set", step_id=step.pk)
    assert events(meeting)[-1]["step"]["id"] == step.pk
    # The built-in weekly script is no longer this meeting's agenda.
    other = steps_of("men_weekly")[0]
    assert refused(host, "phase.set", step_id=other.pk) == ErrorCode.NOT_FOUND


def test_a_copy_of_a_copy_stays_with_the_circle(circle, facilitator):
    first = script_copy(
        actor=facilitator, circle=circle, script=Script.objects.get(key="men_weekly")
    )

    second = script_copy(actor=facilitator, circle=circle, script=first)

    assert second.based_on_id == first.pk
    assert second.steps.count() == first.steps.count()


def test_only_the_circles_facilitators_copy_scripts(circle, facilitator, ann):
    original = Script.objects.get(key="men_weekly")
    other_circle = factories.make_circle()
    outsider = factories.facilitator_of(other_circle)
    count = Script.objects.count()

    with pytest.raises(PermissionDenied):
        script_copy(actor=ann, circle=circle, script=original, make_default=True)
    with pytest.raises(PermissionDenied):
        script_copy(actor=outsider, circle=circle, script=original, make_default=True)
    # Demoted since the page loaded: the stale object says facilitator, the database doesn't.
    second = factories.make_member(circle, alias="Deputy")
    Membership.objects.filter(pk=second.pk).update(role="facilitator")
    second.refresh_from_db()
    Membership.objects.filter(pk=second.pk).update(status=MembershipStatus.REMOVED)
    with pytest.raises(PermissionDenied):
        script_copy(actor=second, circle=circle, script=original)

    assert Script.objects.count() == count
    circle.refresh_from_db()
    assert circle.default_script_id is None


def test_scripts_of_another_circle_or_audience_cannot_be_copied(circle, facilitator):
    other_circle = factories.make_circle()
    theirs = script_copy(
        actor=factories.facilitator_of(other_circle),
        circle=other_circle,
        script=Script.objects.get(key="men_weekly"),
    )
    count = Script.objects.count()

    for script in (theirs, Script.objects.get(key="partner_weekly")):
        with pytest.raises(ScriptError):
            script_copy(actor=facilitator, circle=circle, script=script, make_default=True)
        with pytest.raises(ScriptError):
            script_set_default(actor=facilitator, circle=circle, script=script)

    assert Script.objects.count() == count
    circle.refresh_from_db()
    assert circle.default_script_id is None


def test_script_set_default_picks_and_clears_the_agenda(circle, facilitator, ann):
    first = Script.objects.get(key="first_meeting")

    script_set_default(actor=facilitator, circle=circle, script=first)
    circle.refresh_from_db()
    assert circle.default_script_id == first.pk
    with pytest.raises(PermissionDenied):
        script_set_default(actor=ann, circle=circle, script=None)

    script_set_default(actor=facilitator, circle=circle, script=None)
    circle.refresh_from_db()
    assert circle.default_script_id is None


# Broadcasting -------------------------------------------------------------------------


def test_round_events_are_broadcast_once_after_commit(
    meeting, seats, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr(
        "room.broadcast._send", lambda out: sent.append((out.room_key, out.message))
    )

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        send(seats[0], "round.start", kind="check_in")
        assert sent == []
    for callback in callbacks:
        callback()

    ((target, message),) = sent  # one message, carrying both events in order
    assert target == str(meeting.public_id)
    frames = [json.loads(text) for text in message["frames"]]
    assert [f["type"] for f in frames] == ["round.started", "turn.started"]
    assert [b["seq"] - a["seq"] for a, b in pairwise(frames)] == [1]


def test_a_refused_frame_broadcasts_nothing(
    meeting, in_round, monkeypatch, django_capture_on_commit_callbacks
):
    sent = []
    monkeypatch.setattr("room.broadcast._send", lambda out: sent.append(out))
    turn = open_turn(meeting)
    send(in_round[0], "round.next", turn_id=turn.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        refused(in_round[0], "round.next", turn_id=turn.pk)

    assert callbacks == []
    assert sent == []


def test_round_next_stays_within_a_query_budget(meeting, in_round, django_assert_max_num_queries):
    turn = open_turn(meeting)
    with django_assert_max_num_queries(20):
        send(in_round[0], "round.next", turn_id=turn.pk)
