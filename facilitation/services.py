"""Facilitation actions in the live room: rounds, the talking order, agenda steps and
prompts.

Every action takes the Room (room.context.acting has locked the meeting and checked
the actor) and keyword-only arguments, loads the round or queue, applies the pure
transition from facilitation.rounds / facilitation.queue, saves it, and appends events
that carry the whole new round or queue, so clients replace state instead of patching
it. realtime.dispatch says who may call each.
"""

import datetime as dt
import random
from collections import Counter
from functools import cache
from typing import Any

from django.conf import settings
from django.utils import timezone

from groups.models import Attendance, Membership, MembershipStatus, Role
from room import rows
from room.context import Room, require_live
from room.errors import ErrorCode, RoomError
from room.models import Connection

from . import queue as talking
from . import rounds
from .feelings import clean_feeling_words
from .library_services import library_filter
from .models import FeelingShare, FloorHold, Prompt, PromptUse, Round, RoundKind, ScriptStep, Turn


def _refuse(error: rounds.RoundError | talking.QueueError) -> RoomError:
    return RoomError(ErrorCode(error.code), error.message)


# Reading live state ---------------------------------------------------------------------


def present_ids(meeting_pk: int) -> set[int]:
    """Who has a socket open in the meeting (every connect asks: by hand, room.rows)."""
    return {member for (member,) in rows.fetch_all(_present_sql(), [meeting_pk])}


@cache
def _present_sql() -> str:
    return f'SELECT membership_id FROM "{Connection._meta.db_table}" WHERE meeting_id = %s'  # noqa: S608


def turn_present_ids(meeting_pk: int, *, now: dt.datetime) -> set[int]:
    """Who counts as here when a round picks its next speaker: connected, or gone for
    less than the presence grace period. A reload as his turn comes must not cost him
    the turn; if he really is gone, confirming his absence skips it
    (round_member_departed)."""
    grace = dt.timedelta(seconds=settings.HEARTH_PRESENCE_GRACE_SECONDS)
    recently_left = Attendance.objects.filter(meeting_id=meeting_pk, left_at__gt=now - grace)
    return present_ids(meeting_pk) | set(recently_left.values_list("membership_id", flat=True))


def active_round(meeting_pk: int) -> Round | None:
    """The meeting's open round, with its prompt. Every connect, leave and turn asks:
    by hand (room.rows)."""
    row = rows.fetch_one(_active_round_sql(), [meeting_pk])
    if row is None:
        return None
    round_ = rows.instance(Round, row)
    round_.prompt = (
        rows.instance(Prompt, row, rows.width(Round)) if round_.prompt_id is not None else None
    )
    return round_


@cache
def _active_round_sql() -> str:
    return (
        f"SELECT {rows.columns(Round, 'r')}, {rows.columns(Prompt, 'p')}"  # noqa: S608
        f' FROM "{Round._meta.db_table}" r LEFT JOIN "{Prompt._meta.db_table}" p'
        " ON p.id = r.prompt_id WHERE r.meeting_id = %s AND r.ended_at IS NULL"
        " ORDER BY r.started_at, r.id LIMIT 1"
    )


def open_turn(round_: Round) -> Turn | None:
    row = rows.fetch_one(_open_turn_sql(), [round_.pk])
    return rows.instance(Turn, row) if row else None


@cache
def _open_turn_sql() -> str:
    return (
        f'SELECT {rows.columns(Turn, "t")} FROM "{Turn._meta.db_table}" t'  # noqa: S608
        " WHERE t.round_id = %s AND t.ended_at IS NULL ORDER BY t.number LIMIT 1"
    )


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
    return Counter(membership_id for membership_id, _, _ in _speaking_spans(meeting_pk))


def speaking_stats(meeting_pk: int) -> dict[int, dict[str, Any]]:
    """Per member: times spoken and seconds spoken this meeting (facilitators only)."""
    now = timezone.now()
    counts: Counter[int] = Counter()
    spent: dict[int, dt.timedelta] = {}
    for membership_id, started_at, ended_at in _speaking_spans(meeting_pk):
        counts[membership_id] += 1
        span = (ended_at or now) - started_at
        spent[membership_id] = spent.get(membership_id, dt.timedelta()) + span
    return {pk: {"count": counts[pk], "seconds": int(spent[pk].total_seconds())} for pk in counts}


def _speaking_spans(meeting_pk: int) -> list[tuple[int, dt.datetime, dt.datetime | None]]:
    """Every time someone spoke: his turns taken and his times holding the floor. By
    hand (room.rows): a facilitator's every connect and every progressive-stack raise
    reads them."""
    return [
        (pk, rows.read_timestamp(started), rows.read_datetime(ended))
        for pk, started, ended in rows.fetch_all(_speaking_spans_sql(), [meeting_pk, meeting_pk])
    ]


@cache
def _speaking_spans_sql() -> str:
    turn, round_, hold = (m._meta.db_table for m in (Turn, Round, FloorHold))
    return (
        f'SELECT t.membership_id, t.started_at, t.ended_at FROM "{turn}" t'  # noqa: S608
        f' JOIN "{round_}" r ON r.id = t.round_id'
        " WHERE r.meeting_id = %s AND t.outcome = 'done'"
        f' UNION ALL SELECT membership_id, started_at, ended_at FROM "{hold}"'
        " WHERE meeting_id = %s"
    )


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
    """The queue with everyone's alias (read here for anyone not in `aliases`)."""
    state = queue_state(meeting)
    aliases = aliases or {}
    ids = [*state.queued, *([state.floor] if state.floor else [])]
    missing = [pk for pk in ids if pk not in aliases]
    if missing:
        found = Membership.objects.filter(pk__in=missing).values_list("pk", "alias")
        aliases = {**aliases, **dict(found)}
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


def _save_queue(room: Room, state: talking.QueueState) -> None:
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
    room: Room,
    round_: Round,
    step: rounds.RoundStep,
    *,
    present: set[int],
    starting: bool = False,
) -> None:
    """Persist a round transition and append its events, in order: `round.started` (when
    `starting`), `turn.ended`, then `turn.started` or `round.ended`; `round.updated` when
    the change ended no turn and started none (a waiting member was removed)."""
    ended = _end_the_open_turn(room, round_, step)
    _save_round_state(room, round_, step)
    new_turn = _start_the_next_turn(room, round_, step)
    payload = round_payload(round_, turn=new_turn, present=present)
    if starting:
        room.log.append("round.started", {"round": payload}, actor=room.actor)
    elif ended is None and new_turn is None and round_.ended_at is None:
        room.log.append("round.updated", {"round": payload}, actor=room.actor)
    if ended is not None:
        turn, outcome = ended
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


def _end_the_open_turn(
    room: Room, round_: Round, step: rounds.RoundStep
) -> tuple[Turn, str] | None:
    """Only the open turn's own speaker being in `ended_turns` ends it: a member removed
    while waiting is in `ended_turns` too, and must not end the speaker's turn."""
    current = open_turn(round_)
    ended_now = {t.membership_id: t.outcome for t in step.ended_turns}
    if current is None or not (step.round_ended or current.membership_id in ended_now):
        return None
    outcome = str(ended_now.get(current.membership_id, rounds.TurnOutcome.DONE))
    current.ended_at = room.now
    current.outcome = outcome
    current.save(update_fields=["ended_at", "outcome"])
    return current, outcome


def _save_round_state(room: Room, round_: Round, step: rounds.RoundStep) -> None:
    state = step.state
    round_.order = list(state.order)
    round_.outcomes = [None if o is None else str(o) for o in state.outcomes]
    round_.current = state.current
    round_.turn_number = state.turn_number
    if step.round_ended or state.ended:
        round_.ended_at = room.now
    round_.save(update_fields=["order", "outcomes", "current", "turn_number", "ended_at"])


def _start_the_next_turn(room: Room, round_: Round, step: rounds.RoundStep) -> Turn | None:
    """The next speaker's turn; its clock starts after the quiet moment, if any."""
    if step.started_turn is None or step.state.ended:
        return None
    now = room.now
    start_at = max(now, round_.quiet_until) if round_.quiet_until else now
    return Turn.objects.create(
        round=round_,
        membership_id=step.started_turn,
        number=step.state.turn_number,
        started_at=now,
        deadline=(
            start_at + dt.timedelta(seconds=round_.seconds_per_turn)
            if round_.seconds_per_turn
            else None
        ),
    )


# Actions ---------------------------------------------------------------------------------


def round_start(
    room: Room,
    *,
    kind: str,
    prompt_id: int | None = None,
    prompt: str | None = None,
    order: str = "seating",
    seconds_per_turn: int | None = None,
    quiet_seconds: int | None = None,
) -> None:
    require_live(room.meeting, room.actor)
    if active_round(room.meeting.pk) is not None:
        raise RoomError(ErrorCode.CONFLICT, "A round is already running. End it first.")
    chosen = _prompt_for(room, prompt_id, prompt)
    present = turn_present_ids(room.meeting.pk, now=room.now)
    speakers = _round_order(room, order=order, present=present)
    try:
        step = rounds.start_round(order=speakers, present=present)
    except rounds.RoundError as error:
        raise _refuse(error) from None
    quiet = quiet_seconds or 0
    round_ = Round.objects.create(
        meeting=room.meeting,
        kind=kind,
        order_kind=order,
        prompt=chosen if chosen and chosen.pk else None,
        prompt_text=chosen.text if chosen else "",
        prompt_strategy=chosen.strategy if chosen else "",
        order=list(speakers),
        outcomes=[None] * len(speakers),
        current=None,
        turn_number=0,
        seconds_per_turn=seconds_per_turn,
        quiet_until=room.now + dt.timedelta(seconds=quiet) if quiet else None,
        started_at=room.now,
    )
    # The row starts "not yet started" (no current turn); _apply_step saves the first
    # step's state and announces round.started with the first turn in it.
    _apply_step(room, round_, step, present=present, starting=True)


def _round_order(room: Room, *, order: str, present: set[int]) -> tuple[int, ...]:
    """Who speaks in which order: the people here, by when they arrived (seating),
    shuffled, or with the facilitators first."""
    members = list(
        Membership.objects.filter(circle_id=room.meeting.circle_id, status=MembershipStatus.ACTIVE)
        .filter(attendances__meeting=room.meeting)
        .order_by("attendances__joined_at", "pk")
        .values_list("pk", "role")
    )
    participants = [pk for pk, _role in members if pk in present]
    if not participants:
        raise RoomError(ErrorCode.CONFLICT, "Nobody is here yet to take a turn.")
    shuffled = None
    if order == "random":
        shuffled = list(participants)
        random.SystemRandom().shuffle(shuffled)
    try:
        return tuple(
            rounds.build_order(
                participants=participants,
                order=rounds.RoundOrder(order),
                facilitator_ids={pk for pk, role in members if role == Role.FACILITATOR},
                shuffled=shuffled,
            )
        )
    except rounds.RoundError as error:
        raise _refuse(error) from None


def _prompt_for(room: Room, prompt_id: int | None, text: str | None) -> Prompt | None:
    """A prompt from the circle's library (its use recorded), or the facilitator's own
    words as an unsaved Prompt (said once, not added to the library)."""
    if prompt_id is not None:
        # A partner circle's prompt never reaches a men's circle, nor another circle's.
        prompt = Prompt.objects.filter(library_filter(room.meeting.circle), pk=prompt_id).first()
        if prompt is None:
            raise RoomError(ErrorCode.NOT_FOUND, "That prompt isn't in this circle's library.")
        PromptUse.objects.create(
            prompt=prompt, circle_id=room.meeting.circle_id, meeting=room.meeting, used_at=room.now
        )
        return prompt
    if text:
        return Prompt(text=text, strategy="")
    return None


def _end_current_turn(
    room: Room, turn_id: int | None, outcome: rounds.TurnOutcome, *, by_speaker: bool
) -> None:
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        raise RoomError(ErrorCode.CONFLICT, "There's no round running.")
    state = round_state(round_)
    turn = open_turn(round_)
    if by_speaker:
        if turn is None or turn.membership_id != room.actor.pk:
            raise RoomError(ErrorCode.NOT_YOUR_TURN, "It isn't your turn right now.")
        if turn_id is not None and turn_id != turn.pk:
            raise RoomError(ErrorCode.CONFLICT, "That turn has already moved on.")
    elif turn is None or turn_id != turn.pk:
        raise RoomError(ErrorCode.CONFLICT, "That turn has already moved on.")
    present = turn_present_ids(room.meeting.pk, now=room.now)
    try:
        step = rounds.end_turn(
            state, turn_number=state.turn_number, outcome=outcome, present=present
        )
    except rounds.RoundError as error:
        raise _refuse(error) from None
    _apply_step(room, round_, step, present=present)


def turn_done(room: Room, *, turn_id: int | None = None) -> None:
    _end_current_turn(room, turn_id, rounds.TurnOutcome.DONE, by_speaker=True)


def turn_pass(room: Room, *, turn_id: int | None = None) -> None:
    _end_current_turn(room, turn_id, rounds.TurnOutcome.PASSED, by_speaker=True)


def round_next(room: Room, *, turn_id: int) -> None:
    _end_current_turn(room, turn_id, rounds.TurnOutcome.DONE, by_speaker=False)


def round_skip(room: Room, *, turn_id: int) -> None:
    _end_current_turn(room, turn_id, rounds.TurnOutcome.SKIPPED, by_speaker=False)


def round_end(room: Room) -> None:
    round_ = active_round(room.meeting.pk)
    if round_ is None:
        raise RoomError(ErrorCode.CONFLICT, "There's no round running.")
    try:
        step = rounds.end_round(round_state(round_))
    except rounds.RoundError as error:
        raise _refuse(error) from None
    _apply_step(room, round_, step, present=turn_present_ids(room.meeting.pk, now=room.now))


def feelings_share(room: Room, *, words: tuple[str, ...] = (), weather: int | None = None) -> None:
    round_ = active_round(room.meeting.pk)
    turn = open_turn(round_) if round_ else None
    if round_ is None or turn is None or turn.membership_id != room.actor.pk:
        raise RoomError(ErrorCode.NOT_YOUR_TURN, "You can share feelings during your turn.")
    if round_.kind != RoundKind.CHECK_IN:
        raise RoomError(ErrorCode.FORBIDDEN, "Feeling words belong to a check-in round.")
    try:
        clean = clean_feeling_words(list(words))
    except ValueError as error:
        raise RoomError(ErrorCode.INVALID, f"“{error}” isn't one of the feeling words.") from None
    if not clean and weather is None:
        raise RoomError(ErrorCode.INVALID, "Pick a feeling word or a weather number.")
    FeelingShare.objects.create(
        turn=turn, membership=room.actor, words=clean, weather=weather, created_at=room.now
    )
    room.log.append(
        "feelings.shared",
        {
            "round_id": round_.pk,
            "turn_id": turn.pk,
            "membership_id": room.actor.pk,
            "words": clean,
            "weather": weather,
        },
        actor=room.actor,
    )


def hand_raise(room: Room) -> None:
    require_live(room.meeting, room.actor)
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


def hand_lower(room: Room) -> None:
    _save_queue(room, talking.lower_hand(queue_state(room.meeting), membership_id=room.actor.pk))


def floor_grant(room: Room, *, membership_id: int) -> None:
    require_live(room.meeting, room.actor)
    member = Membership.objects.filter(
        pk=membership_id, circle_id=room.meeting.circle_id, status=MembershipStatus.ACTIVE
    ).first()
    if member is None:
        raise RoomError(ErrorCode.NOT_FOUND, "That person isn't in this circle.")
    _save_queue(room, talking.grant_floor(queue_state(room.meeting), membership_id=member.pk))


def floor_release(room: Room) -> None:
    _save_queue(room, talking.release_floor(queue_state(room.meeting)))


def queue_move(room: Room, *, membership_id: int, position: int) -> None:
    try:
        state = talking.move(
            queue_state(room.meeting), membership_id=membership_id, position=position
        )
    except talking.QueueError as error:
        raise _refuse(error) from None
    _save_queue(room, state)


def queue_remove(room: Room, *, membership_id: int) -> None:
    """A facilitator lowers someone's hand for him."""
    state = queue_state(room.meeting)
    if talking.position_of(state, membership_id) is None:
        raise RoomError(ErrorCode.NOT_FOUND, "That person isn't waiting to speak.")
    _save_queue(room, talking.lower_hand(state, membership_id=membership_id))


def queue_mode(
    room: Room, *, talking_piece: bool | None = None, progressive: bool | None = None
) -> None:
    current = queue_state(room.meeting)
    state = talking.set_mode(
        current,
        talking_piece=current.talking_piece if talking_piece is None else talking_piece,
        progressive=current.progressive if progressive is None else progressive,
        spoken_counts=spoken_counts(room.meeting.pk),
    )
    _save_queue(room, state)


def prompt_push(room: Room, *, prompt_id: int | None = None, prompt: str | None = None) -> None:
    chosen = _prompt_for(room, prompt_id, prompt)
    if chosen is None:
        raise RoomError(ErrorCode.INVALID, "Choose a prompt or write one.")
    room.log.append(
        "prompt.pushed",
        {"prompt": {"id": chosen.pk, "text": chosen.text, "strategy": chosen.strategy or None}},
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


def phase_set(room: Room, *, step_id: int | None) -> None:
    meeting = room.meeting
    step = None
    if step_id is not None:
        script = meeting_script(meeting)
        step = ScriptStep.objects.filter(pk=step_id, script=script).first() if script else None
        if step is None:
            raise RoomError(ErrorCode.NOT_FOUND, "That step isn't in this meeting's agenda.")
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


def round_member_arrived(room: Room) -> None:
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


def round_member_departed(room: Room) -> None:
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


def round_member_removed(room: Room, member: Membership) -> None:
    round_ = active_round(room.meeting.pk)
    present = turn_present_ids(room.meeting.pk, now=room.now) - {member.pk}
    if round_ is not None:
        step = rounds.remove_participant(round_state(round_), member.pk, present)
        if step.state != round_state(round_):
            _apply_step(room, round_, step, present=present)
    state = talking.remove_member(queue_state(room.meeting), member.pk)
    _save_queue(room, state)


def round_close_for_meeting_end(room: Room) -> None:
    round_ = active_round(room.meeting.pk)
    if round_ is not None:
        _apply_step(room, round_, rounds.end_round(round_state(round_)), present=set())
    if room.meeting.floor_holder_id:
        _save_queue(room, talking.release_floor(queue_state(room.meeting)))


def facilitation_snapshot(
    meeting, *, present: set[int], aliases: dict[int, str] | None = None
) -> dict:
    round_ = active_round(meeting.pk)
    if round_ is not None:
        # "Up next" as the round will decide it: people within the grace period count.
        present = present | turn_present_ids(meeting.pk, now=timezone.now())
    return {
        "round": round_payload(round_, present=present) if round_ else None,
        "queue": queue_payload(meeting, aliases),
        "step": step_payload(meeting.current_step),
        "step_started_at": meeting.step_started_at.isoformat() if meeting.step_started_at else None,
    }
