"""Facilitation actions in the live room: rounds, the talking order, agenda steps and
prompts, driven by protocol frames.

Every handler is called by realtime.services.frame_apply with the meeting row locked
and the actor re-read (`room`), loads the round or queue, applies the pure transition
from facilitation.rounds / facilitation.queue, saves it, and appends events that carry
the whole new round or queue, so clients replace state instead of patching it.
"""

import datetime as dt
import random
from collections import Counter
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from groups.models import Attendance, MeetingStatus, Membership, MembershipStatus, Role
from realtime.protocol import ErrorCode, Frame, FrameError

from . import queue as talking
from . import rounds
from .feelings import clean_feeling_words
from .models import FeelingShare, FloorHold, Prompt, PromptUse, Round, RoundKind, ScriptStep, Turn

if TYPE_CHECKING:
    from realtime.services import Room


def _refuse(error: rounds.RoundError | talking.QueueError) -> FrameError:
    return FrameError(error.code, error.message)


# Reading live state ---------------------------------------------------------------------


def present_ids(meeting_pk: int) -> set[int]:
    return set(
        Attendance.objects.filter(meeting_id=meeting_pk, connections__gt=0).values_list(
            "membership_id", flat=True
        )
    )


def turn_present_ids(meeting_pk: int, *, now: dt.datetime) -> set[int]:
    """Who counts as here when a round picks its next speaker: connected, or gone for
    less than the presence grace period. A reload as his turn comes must not cost him
    the turn; if he really is gone, confirming his absence skips it
    (round_member_departed)."""
    grace = dt.timedelta(seconds=settings.HEARTH_PRESENCE_GRACE_SECONDS)
    return set(
        Attendance.objects.filter(meeting_id=meeting_pk)
        .filter(Q(connections__gt=0) | Q(left_at__gt=now - grace))
        .values_list("membership_id", flat=True)
    )


def active_round(meeting_pk: int) -> Round | None:
    return (
        Round.objects.select_related("prompt")
        .filter(meeting_id=meeting_pk, ended_at__isnull=True)
        .first()
    )


def open_turn(round_: Round) -> Turn | None:
    return round_.turns.filter(ended_at__isnull=True).first()


def round_state(round_: Round) -> rounds.RoundState:
    return rounds.RoundState(
        order=tuple(round_.order),
        outcomes=tuple(round_.outcomes),
        current=round_.current,
        turn_number=round_.turn_number,
        ended=round_.ended_at is not None,
    )


def round_payload(round_: Round, *, turn: Turn | None = None, present: set[int]) -> dict:
    state = round_state(round_)
    if turn is None and round_.ended_at is None:
        turn = open_turn(round_)
    return {
        "id": round_.pk,
        "kind": round_.kind,
        "order_kind": round_.order_kind,
        "prompt": (
            {
                "id": round_.prompt_id,
                "text": round_.prompt_text,
                "strategy": round_.prompt_strategy or None,
            }
            if round_.prompt_text
            else None
        ),
        "order": list(round_.order),
        "outcomes": list(round_.outcomes),
        "seconds_per_turn": round_.seconds_per_turn,
        "quiet_until": round_.quiet_until.isoformat() if round_.quiet_until else None,
        "current": (
            {
                "turn_id": turn.pk,
                "membership_id": turn.membership_id,
                "started_at": turn.started_at.isoformat(),
                "deadline": turn.deadline.isoformat() if turn.deadline else None,
            }
            if turn is not None
            else None
        ),
        "up_next": rounds.up_next(state, present),
        "ended": round_.ended_at is not None,
    }


def spoken_counts(meeting_pk: int) -> Counter[int]:
    """How often each member has spoken in this meeting: turns he took (not passed or
    skipped) and times he held the floor."""
    counts: Counter[int] = Counter()
    for row in (
        Turn.objects.filter(round__meeting_id=meeting_pk, outcome="done")
        .values("membership_id")
        .annotate(n=Count("id"))
    ):
        counts[row["membership_id"]] += row["n"]
    for row in (
        FloorHold.objects.filter(meeting_id=meeting_pk)
        .values("membership_id")
        .annotate(n=Count("id"))
    ):
        counts[row["membership_id"]] += row["n"]
    return counts


def speaking_stats(meeting_pk: int) -> dict[int, dict[str, Any]]:
    """Per member: times spoken and seconds spoken this meeting (facilitators only)."""
    counts = spoken_counts(meeting_pk)
    seconds: Counter[int] = Counter()
    spans = [
        Turn.objects.filter(round__meeting_id=meeting_pk, outcome="done"),
        FloorHold.objects.filter(meeting_id=meeting_pk),
    ]
    for qs in spans:
        for row in qs.values("membership_id").annotate(
            spent=Sum(Coalesce(F("ended_at"), Now()) - F("started_at"))
        ):
            seconds[row["membership_id"]] += int(row["spent"].total_seconds())
    return {mid: {"count": counts[mid], "seconds": seconds[mid]} for mid in counts | seconds}


def queue_state(meeting) -> talking.QueueState:
    return talking.QueueState.from_dict(
        {
            "entries": meeting.queue or [],
            "floor": meeting.floor_holder_id,
            "talking_piece": meeting.talking_piece,
            "progressive": meeting.progressive,
        }
    )


def queue_payload(meeting, aliases: dict[int, str] | None = None) -> dict:
    state = queue_state(meeting)
    if aliases is None:
        ids = [*state.queued, *([state.floor] if state.floor else [])]
        aliases = dict(Membership.objects.filter(pk__in=ids).values_list("pk", "alias"))
    return {
        "queue": [
            {
                "membership_id": e.membership_id,
                "alias": aliases.get(e.membership_id, ""),
                "raised_at": e.raised_at.isoformat(),
            }
            for e in state.entries
        ],
        "floor": state.floor,
        "mode": {"talking_piece": state.talking_piece, "progressive": state.progressive},
    }


# Saving -------------------------------------------------------------------------------


def _save_queue(room: "Room", state: talking.QueueState) -> None:
    meeting = room.meeting
    before = queue_state(meeting)
    if state == before:
        return
    if state.floor != before.floor:
        FloorHold.objects.filter(meeting=meeting, ended_at__isnull=True).update(ended_at=room.now)
        if state.floor is not None:
            FloorHold.objects.create(
                meeting=meeting, membership_id=state.floor, started_at=room.now
            )
    data = state.to_dict()
    meeting.queue = data["entries"]
    meeting.floor_holder_id = state.floor
    meeting.talking_piece = state.talking_piece
    meeting.progressive = state.progressive
    meeting.save(update_fields=["queue", "floor_holder", "talking_piece", "progressive"])
    if state.floor != before.floor:
        if state.floor is None:
            room.log.append("floor.released", {"membership_id": before.floor}, actor=room.actor)
        else:
            room.log.append("floor.granted", {"membership_id": state.floor}, actor=room.actor)
    room.log.append("queue.updated", queue_payload(meeting), actor=room.actor)


def _apply_step(
    room: "Room",
    round_: Round,
    step: rounds.RoundStep,
    *,
    present: set[int],
    starting: bool = False,
) -> None:
    """Persist a round transition and append its events, in order: `round.started` (when
    `starting`), `turn.ended`, then `turn.started` or `round.ended`; `round.updated` when
    the change ended no turn and started none (a waiting member was removed)."""
    now = room.now
    state = step.state
    current = open_turn(round_)
    ended_payloads = []
    # Only the open turn's own speaker being in `ended_turns` ends it: a member removed
    # while waiting is in `ended_turns` too, and must not end the speaker's turn.
    ended_now = {t.membership_id: t.outcome for t in step.ended_turns}
    if current is not None and (step.round_ended or current.membership_id in ended_now):
        outcome = ended_now.get(current.membership_id, rounds.TurnOutcome.DONE)
        current.ended_at = now
        current.outcome = str(outcome)
        current.save(update_fields=["ended_at", "outcome"])
        ended_payloads.append((current, str(outcome)))
        current = None
    round_.order = list(state.order)
    round_.outcomes = [None if o is None else str(o) for o in state.outcomes]
    round_.current = state.current
    round_.turn_number = state.turn_number
    if step.round_ended or state.ended:
        round_.ended_at = now
    round_.save(update_fields=["order", "outcomes", "current", "turn_number", "ended_at"])
    new_turn = None
    if step.started_turn is not None and not state.ended:
        start_at = max(now, round_.quiet_until) if round_.quiet_until else now
        new_turn = Turn.objects.create(
            round=round_,
            membership_id=step.started_turn,
            number=state.turn_number,
            started_at=now,
            deadline=(
                start_at + dt.timedelta(seconds=round_.seconds_per_turn)
                if round_.seconds_per_turn
                else None
            ),
        )
    payload = round_payload(round_, turn=new_turn, present=present)
    if starting:
        room.log.append("round.started", {"round": payload}, actor=room.actor)
    elif not ended_payloads and new_turn is None and round_.ended_at is None:
        room.log.append("round.updated", {"round": payload}, actor=room.actor)
    for turn, outcome in ended_payloads:
        room.log.append(
            "turn.ended",
            {
                "round_id": round_.pk,
                "turn_id": turn.pk,
                "membership_id": turn.membership_id,
                "outcome": outcome,
                "round": payload,
            },
            actor=room.actor,
        )
    if new_turn is not None:
        room.log.append(
            "turn.started",
            {
                "round_id": round_.pk,
                "turn_id": new_turn.pk,
                "membership_id": new_turn.membership_id,
                "deadline": payload["current"]["deadline"],
                "round": payload,
            },
            actor=room.actor,
        )
    if round_.ended_at is not None:
        room.log.append("round.ended", {"round_id": round_.pk, "round": payload}, actor=room.actor)


# Frame handlers ------------------------------------------------------------------------


def _require_live(room: "Room") -> None:
    if room.meeting.status != MeetingStatus.LIVE:
        raise FrameError(ErrorCode.NOT_LIVE, "Open the circle first.")


def round_start(room: "Room", frame: Frame) -> None:
    _require_live(room)
    meeting = room.meeting
    if active_round(meeting.pk) is not None:
        raise FrameError(ErrorCode.CONFLICT, "A round is already running. End it first.")
    prompt = _prompt_for(room, frame.prompt_id, frame.prompt)
    members = list(
        Membership.objects.filter(circle_id=meeting.circle_id, status=MembershipStatus.ACTIVE)
        .filter(attendances__meeting=meeting)
        .order_by("attendances__joined_at", "pk")
        .values_list("pk", "role")
    )
    present = turn_present_ids(meeting.pk, now=room.now)
    participants = [pk for pk, _role in members if pk in present]
    if not participants:
        raise FrameError(ErrorCode.CONFLICT, "Nobody is here yet to take a turn.")
    facilitators = {pk for pk, role in members if role == Role.FACILITATOR}
    shuffled = None
    if frame.order == "random":
        shuffled = list(participants)
        random.SystemRandom().shuffle(shuffled)
    try:
        order = rounds.build_order(
            participants=participants,
            order=rounds.RoundOrder(frame.order),
            facilitator_ids=facilitators,
            shuffled=shuffled,
        )
        step = rounds.start_round(order=order, present=present)
    except rounds.RoundError as error:
        raise _refuse(error) from None
    quiet = frame.quiet_seconds or 0
    round_ = Round.objects.create(
        meeting=meeting,
        kind=frame.kind,
        order_kind=frame.order,
        prompt=prompt if prompt and prompt.pk else None,
        prompt_text=prompt.text if prompt else "",
        prompt_strategy=prompt.strategy if prompt else "",
        order=list(order),
        outcomes=[None] * len(order),
        current=None,
        turn_number=0,
        seconds_per_turn=frame.seconds_per_turn,
        quiet_until=room.now + dt.timedelta(seconds=quiet) if quiet else None,
        started_at=room.now,
    )
    # The row starts "not yet started" (no current turn); _apply_step saves the first
    # step's state and announces round.started with the first turn in it.
    _apply_step(room, round_, step, present=present, starting=True)


def _prompt_for(room: "Room", prompt_id: int | None, text: str | None) -> Prompt | None:
    """A prompt from the circle's library (its use recorded), or the facilitator's own
    words as an unsaved Prompt (said once, not added to the library)."""
    if prompt_id is not None:
        circle = room.meeting.circle
        # The circle's library: built-ins for its kind (or "both") and its own prompts.
        # A partner circle's prompt never reaches a men's circle, nor another circle's.
        prompt = Prompt.objects.filter(
            Q(circle__isnull=True, kind__in=[circle.kind, "both"]) | Q(circle_id=circle.pk),
            pk=prompt_id,
        ).first()
        if prompt is None:
            raise FrameError(ErrorCode.NOT_FOUND, "That prompt isn't in this circle's library.")
        PromptUse.objects.create(
            prompt=prompt, circle_id=room.meeting.circle_id, meeting=room.meeting, used_at=room.now
        )
        return prompt
    if text:
        return Prompt(text=text, strategy="")
    return None


def _end_current_turn(room: "Room", frame: Frame, outcome: rounds.TurnOutcome, *, by_speaker: bool):
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        raise FrameError(ErrorCode.CONFLICT, "There's no round running.")
    state = round_state(round_)
    turn = open_turn(round_)
    if by_speaker:
        if turn is None or turn.membership_id != room.actor.pk:
            raise FrameError(ErrorCode.NOT_YOUR_TURN, "It isn't your turn right now.")
        if frame.turn_id is not None and frame.turn_id != turn.pk:
            raise FrameError(ErrorCode.CONFLICT, "That turn has already moved on.")
    elif turn is None or frame.turn_id != turn.pk:
        raise FrameError(ErrorCode.CONFLICT, "That turn has already moved on.")
    present = turn_present_ids(room.meeting.pk, now=room.now)
    try:
        step = rounds.end_turn(
            state, turn_number=state.turn_number, outcome=outcome, present=present
        )
    except rounds.RoundError as error:
        raise _refuse(error) from None
    _apply_step(room, round_, step, present=present)


def turn_done(room: "Room", frame: Frame) -> None:
    _end_current_turn(room, frame, rounds.TurnOutcome.DONE, by_speaker=True)


def turn_pass(room: "Room", frame: Frame) -> None:
    _end_current_turn(room, frame, rounds.TurnOutcome.PASSED, by_speaker=True)


def round_next(room: "Room", frame: Frame) -> None:
    _end_current_turn(room, frame, rounds.TurnOutcome.DONE, by_speaker=False)


def round_skip(room: "Room", frame: Frame) -> None:
    _end_current_turn(room, frame, rounds.TurnOutcome.SKIPPED, by_speaker=False)


def round_end(room: "Room", frame: Frame) -> None:
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        raise FrameError(ErrorCode.CONFLICT, "There's no round running.")
    try:
        step = rounds.end_round(round_state(round_))
    except rounds.RoundError as error:
        raise _refuse(error) from None
    _apply_step(room, round_, step, present=turn_present_ids(room.meeting.pk, now=room.now))


def feelings_share(room: "Room", frame: Frame) -> None:
    round_ = active_round(room.meeting.pk)
    turn = open_turn(round_) if round_ else None
    if turn is None or turn.membership_id != room.actor.pk:
        raise FrameError(ErrorCode.NOT_YOUR_TURN, "You can share feelings during your turn.")
    if round_.kind != RoundKind.CHECK_IN:
        raise FrameError(ErrorCode.FORBIDDEN, "Feeling words belong to a check-in round.")
    try:
        words = clean_feeling_words(frame.words)
    except ValueError as error:
        raise FrameError(ErrorCode.INVALID, f"“{error}” isn't one of the feeling words.") from None
    if not words and frame.weather is None:
        raise FrameError(ErrorCode.INVALID, "Pick a feeling word or a weather number.")
    FeelingShare.objects.create(
        turn=turn, membership=room.actor, words=words, weather=frame.weather, created_at=room.now
    )
    room.log.append(
        "feelings.shared",
        {
            "round_id": round_.pk,
            "turn_id": turn.pk,
            "membership_id": room.actor.pk,
            "words": words,
            "weather": frame.weather,
        },
        actor=room.actor,
    )


def hand_raise(room: "Room", frame: Frame) -> None:
    _require_live(room)
    try:
        state = talking.raise_hand(
            queue_state(room.meeting),
            membership_id=room.actor.pk,
            now=room.now,
            spoken_counts=spoken_counts(room.meeting.pk),
        )
    except talking.QueueError as error:
        raise _refuse(error) from None
    _save_queue(room, state)


def hand_lower(room: "Room", frame: Frame) -> None:
    _save_queue(room, talking.lower_hand(queue_state(room.meeting), membership_id=room.actor.pk))


def floor_grant(room: "Room", frame: Frame) -> None:
    _require_live(room)
    member = Membership.objects.filter(
        pk=frame.membership_id, circle_id=room.meeting.circle_id, status=MembershipStatus.ACTIVE
    ).first()
    if member is None:
        raise FrameError(ErrorCode.NOT_FOUND, "That person isn't in this circle.")
    _save_queue(room, talking.grant_floor(queue_state(room.meeting), membership_id=member.pk))


def floor_release(room: "Room", frame: Frame) -> None:
    _save_queue(room, talking.release_floor(queue_state(room.meeting)))


def queue_move(room: "Room", frame: Frame) -> None:
    try:
        state = talking.move(
            queue_state(room.meeting), membership_id=frame.membership_id, position=frame.position
        )
    except talking.QueueError as error:
        raise _refuse(error) from None
    _save_queue(room, state)


def queue_remove(room: "Room", frame: Frame) -> None:
    """A facilitator lowers someone's hand for him."""
    state = queue_state(room.meeting)
    if talking.position_of(state, frame.membership_id) is None:
        raise FrameError(ErrorCode.NOT_FOUND, "That person isn't waiting to speak.")
    _save_queue(room, talking.lower_hand(state, membership_id=frame.membership_id))


def queue_mode(room: "Room", frame: Frame) -> None:
    current = queue_state(room.meeting)
    state = talking.set_mode(
        current,
        talking_piece=current.talking_piece if frame.talking_piece is None else frame.talking_piece,
        progressive=current.progressive if frame.progressive is None else frame.progressive,
        spoken_counts=spoken_counts(room.meeting.pk),
    )
    _save_queue(room, state)


def prompt_push(room: "Room", frame: Frame) -> None:
    prompt = _prompt_for(room, frame.prompt_id, frame.prompt)
    if prompt is None:
        raise FrameError(ErrorCode.INVALID, "Choose a prompt or write one.")
    room.log.append(
        "prompt.pushed",
        {"prompt": {"id": prompt.pk, "text": prompt.text, "strategy": prompt.strategy or None}},
        actor=room.actor,
    )


def step_payload(step: ScriptStep | None) -> dict | None:
    """What members see of an agenda step: never the facilitator notes."""
    if step is None:
        return None
    return {
        "id": step.pk,
        "position": step.position,
        "title": step.title,
        "purpose": step.purpose,
        "minutes": step.minutes,
        "round_kind": step.round_kind or None,
        "prompt_id": step.prompt_id,
    }


BUILT_IN_SCRIPT_FOR_KIND = {"men": "men_weekly", "partners": "partner_weekly"}


def meeting_script(meeting):
    """The meeting's agenda: the one it started with, else the circle's default, else
    the built-in weekly script for the circle's kind."""
    from .models import Script

    return (
        meeting.script
        or meeting.circle.default_script
        or Script.objects.filter(key=BUILT_IN_SCRIPT_FOR_KIND.get(meeting.circle.kind)).first()
    )


def phase_set(room: "Room", frame: Frame) -> None:
    meeting = room.meeting
    step = None
    if frame.step_id is not None:
        script = meeting_script(meeting)
        step = (
            ScriptStep.objects.filter(pk=frame.step_id, script=script).first() if script else None
        )
        if step is None:
            raise FrameError(ErrorCode.NOT_FOUND, "That step isn't in this meeting's agenda.")
        if meeting.script_id is None:
            meeting.script = script
    meeting.current_step = step
    meeting.step_started_at = room.now if step else None
    meeting.save(update_fields=["script", "current_step", "step_started_at"])
    room.log.append(
        "phase.changed",
        {"step": step_payload(step), "started_at": room.now.isoformat() if step else None},
        actor=room.actor,
    )


# Presence and membership changes ----------------------------------------------------------


def round_member_arrived(room: "Room") -> None:
    """A member (re)connects: late joiners go to the end of an active round; one who
    comes back before his turn keeps his place."""
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        return
    state = round_state(round_)
    new_state = rounds.add_participant(state, room.actor.pk)
    if new_state == state:
        return
    round_.order = list(new_state.order)
    round_.outcomes = [None if o is None else str(o) for o in new_state.outcomes]
    round_.save(update_fields=["order", "outcomes"])
    present = turn_present_ids(room.meeting.pk, now=room.now) | {room.actor.pk}
    room.log.append("round.updated", {"round": round_payload(round_, present=present)})


def round_member_departed(room: "Room") -> None:
    """Called after the presence grace period: if it was his turn, the round moves on."""
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        return
    turn = open_turn(round_)
    state = round_state(round_)
    present = turn_present_ids(room.meeting.pk, now=room.now) - {room.actor.pk}
    if turn is None or turn.membership_id != room.actor.pk:
        if room.actor.pk in state.order:
            # Not his turn: he keeps his place, but "up next" may have changed.
            room.log.append("round.updated", {"round": round_payload(round_, present=present)})
        return
    step = rounds.end_turn(
        state, turn_number=state.turn_number, outcome=rounds.TurnOutcome.SKIPPED, present=present
    )
    _apply_step(room, round_, step, present=present)


def round_member_removed(room: "Room", member: Membership) -> None:
    round_ = active_round(room.meeting.pk)
    present = turn_present_ids(room.meeting.pk, now=room.now) - {member.pk}
    if round_ is not None:
        step = rounds.remove_participant(round_state(round_), member.pk, present)
        if step.state != round_state(round_):
            _apply_step(room, round_, step, present=present)
    state = talking.remove_member(queue_state(room.meeting), member.pk)
    _save_queue(room, state)


def round_close_for_meeting_end(room: "Room") -> None:
    round_ = active_round(room.meeting.pk)
    if round_ is not None:
        _apply_step(room, round_, rounds.end_round(round_state(round_)), present=set())
    if room.meeting.floor_holder_id:
        _save_queue(room, talking.release_floor(queue_state(room.meeting)))


def facilitation_snapshot(meeting, *, present: set[int]) -> dict:
    round_ = active_round(meeting.pk)
    if round_ is not None:
        # "Up next" as the round will decide it: people within the grace period count.
        present = present | turn_present_ids(meeting.pk, now=timezone.now())
    return {
        "round": round_payload(round_, present=present) if round_ else None,
        "queue": queue_payload(meeting),
        "step": step_payload(meeting.current_step),
        "step_started_at": meeting.step_started_at.isoformat() if meeting.step_started_at else None,
    }


HANDLERS = {
    "round.start": (round_start, True),
    "round.next": (round_next, True),
    "round.skip": (round_skip, True),
    "round.end": (round_end, True),
    "turn.done": (turn_done, False),
    "turn.pass": (turn_pass, False),
    "feelings.share": (feelings_share, False),
    "hand.raise": (hand_raise, False),
    "hand.lower": (hand_lower, False),
    "floor.grant": (floor_grant, True),
    "floor.release": (floor_release, True),
    "queue.move": (queue_move, True),
    "queue.remove": (queue_remove, True),
    "queue.mode": (queue_mode, True),
    "prompt.push": (prompt_push, True),
    "phase.set": (phase_set, True),
}
