"""Rounds (check-in, check-out, topic): everyone in `order` gets one turn, one at a time.

Invariants: a member is in `order` at most once and has at most one turn; the pointer
only moves forward; `outcomes[i]` stays None until member i's turn ends or the pointer
passes him while he is away; `current` is None exactly when the round has ended (there is
no "waiting" round); `turn_number` counts turns started, so a command naming an older
turn is stale. Pure: no Django, no clock, no randomness (the caller passes the shuffle).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any, Literal, NamedTuple

__all__ = [
    "EndedTurn",
    "RoundError",
    "RoundErrorCode",
    "RoundKind",
    "RoundOrder",
    "RoundState",
    "RoundStep",
    "TurnOutcome",
    "add_participant",
    "build_order",
    "check_speaker",
    "current_speaker",
    "end_round",
    "end_turn",
    "remove_participant",
    "start_round",
    "up_next",
]


class RoundKind(StrEnum):
    CHECK_IN = "check_in"
    CHECK_OUT = "check_out"
    TOPIC = "topic"


class RoundOrder(StrEnum):
    SEATING = "seating"
    RANDOM = "random"
    FACILITATOR_FIRST = "facilitator_first"


class TurnOutcome(StrEnum):
    DONE = "done"
    PASSED = "passed"
    SKIPPED = "skipped"


type RoundErrorCode = Literal["conflict", "not_your_turn", "invalid"]

_MESSAGES: dict[RoundErrorCode, str] = {
    "conflict": "That turn is no longer the current one.",
    "not_your_turn": "It is not your turn.",
    "invalid": "That round command is not valid.",
}


class RoundError(Exception):
    """A round command that cannot apply; `code` is the protocol's error code."""

    def __init__(self, code: RoundErrorCode, message: str | None = None) -> None:
        self.code: RoundErrorCode = code
        self.message: str = message or _MESSAGES[code]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"RoundError({self.code!r}, {self.message!r})"


class EndedTurn(NamedTuple):
    membership_id: int
    outcome: TurnOutcome


@dataclass(frozen=True, slots=True)
class RoundState:
    """Where a round stands. Lists and plain strings (as loaded from the database) are
    accepted and normalised to tuples and `TurnOutcome`; an inconsistent state raises
    ValueError, because it can only come from a bug or a corrupt row."""

    order: tuple[int, ...]
    outcomes: tuple[TurnOutcome | None, ...]
    current: int | None
    turn_number: int
    ended: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "order", tuple(self.order))
        object.__setattr__(
            self,
            "outcomes",
            tuple(None if o is None else TurnOutcome(o) for o in self.outcomes),
        )
        problem = _inconsistency(self)
        if problem:
            raise ValueError(f"inconsistent RoundState: {problem}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a JSONField or a snapshot."""
        return {
            "order": list(self.order),
            "outcomes": [None if o is None else o.value for o in self.outcomes],
            "current": self.current,
            "turn_number": self.turn_number,
            "ended": self.ended,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RoundState:
        return cls(
            order=tuple(data["order"]),
            outcomes=tuple(data["outcomes"]),
            current=data["current"],
            turn_number=data["turn_number"],
            ended=data["ended"],
        )


def _inconsistency(state: RoundState) -> str | None:
    n = len(state.order)
    if len(state.outcomes) != n:
        return "outcomes and order differ in length"
    if len(set(state.order)) != n:
        return "a member appears twice in order"
    if state.turn_number < 0:
        return "negative turn_number"
    if state.ended != (state.current is None):
        return "current must be None exactly when the round has ended"
    if state.current is None:
        return None
    if not 0 <= state.current < n:
        return "current is out of range"
    if state.turn_number < 1:
        return "a current turn needs turn_number >= 1"
    if any(o is None for o in state.outcomes[: state.current]):
        return "a member before the pointer has no outcome"
    if state.outcomes[state.current] is not None:
        return "the current member already has an outcome"
    if any(o not in (None, TurnOutcome.SKIPPED) for o in state.outcomes[state.current + 1 :]):
        return "a member after the pointer has spoken"
    return None


@dataclass(frozen=True, slots=True)
class RoundStep:
    """What a transition did, in the order the caller emits events: `turn.ended` for each
    of `ended_turns`, then `turn.started` (started_turn) or `round.ended`."""

    state: RoundState
    ended_turns: tuple[EndedTurn, ...] = ()
    started_turn: int | None = None
    round_ended: bool = False


def build_order(
    *,
    participants: Sequence[int],
    order: RoundOrder,
    facilitator_ids: Collection[int],
    shuffled: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """Speaking order. `participants` is seating (join) order; `shuffled` is only read for
    a random order, where it must be a permutation of `participants`."""
    seating = tuple(participants)
    _require_unique(seating)
    try:
        kind = RoundOrder(order)
    except ValueError:
        raise RoundError("invalid", f"Unknown round order {order!r}.") from None
    match kind:
        case RoundOrder.SEATING:
            return seating
        case RoundOrder.RANDOM:
            if shuffled is None or sorted(shuffled) != sorted(seating):
                raise RoundError("invalid", "A random order must shuffle the participants.")
            return tuple(shuffled)
        case RoundOrder.FACILITATOR_FIRST:
            # The facilitator shares first, at the same depth: it models the vulnerability
            # asked of everyone else.
            facilitators = set(facilitator_ids)
            return tuple(m for m in seating if m in facilitators) + tuple(
                m for m in seating if m not in facilitators
            )


def start_round(*, order: Sequence[int], present: Collection[int]) -> RoundStep:
    """The first present member speaks; absent ones before him are skipped. With nobody
    present the round ends at once."""
    members = tuple(order)
    _require_unique(members)
    return _advance(
        order=members,
        outcomes=[None] * len(members),
        start=0,
        turn_number=0,
        present=present,
        ended=[],
    )


def end_turn(
    state: RoundState,
    *,
    turn_number: int,
    outcome: TurnOutcome,
    present: Collection[int],
) -> RoundStep:
    """End the named turn and start the next present member's. A stale `turn_number`
    (another facilitator pressed "next" first) is a conflict, so one press moves one turn."""
    current = _require_turn(state, turn_number)
    try:
        result = TurnOutcome(outcome)
    except ValueError:
        raise RoundError("invalid", f"Unknown turn outcome {outcome!r}.") from None
    outcomes = list(state.outcomes)
    outcomes[current] = result
    return _advance(
        order=state.order,
        outcomes=outcomes,
        start=current + 1,
        turn_number=state.turn_number,
        present=present,
        ended=[EndedTurn(state.order[current], result)],
    )


def add_participant(state: RoundState, membership_id: int) -> RoundState:
    """A late joiner speaks last. No-op if he is already in the order (whatever his
    outcome: a member gets one turn) or the round has ended (a round never waits for
    people; it ends when it runs out of present members, so there is nothing to join)."""
    if state.ended or membership_id in state.order:
        return state
    return replace(
        state,
        order=(*state.order, membership_id),
        outcomes=(*state.outcomes, None),
    )


def remove_participant(
    state: RoundState, membership_id: int, present: Collection[int]
) -> RoundStep:
    """A removed member never speaks: his current turn ends "skipped" and the next starts,
    or his pending turn is marked skipped now. No-op if he already had his turn, is not in
    the round, or the round has ended."""
    if state.ended or membership_id not in state.order:
        return RoundStep(state)
    index = state.order.index(membership_id)
    if index == state.current:
        return end_turn(
            state,
            turn_number=state.turn_number,
            outcome=TurnOutcome.SKIPPED,
            present=present,
        )
    if state.outcomes[index] is not None:
        return RoundStep(state)
    outcomes = list(state.outcomes)
    outcomes[index] = TurnOutcome.SKIPPED
    return RoundStep(
        replace(state, outcomes=tuple(outcomes)),
        ended_turns=(EndedTurn(membership_id, TurnOutcome.SKIPPED),),
    )


def end_round(state: RoundState) -> RoundStep:
    """Stop now: the current speaker's turn ends "done" (he held the turn); members still
    waiting keep outcome None, meaning the round was closed before they spoke."""
    if state.current is None:
        raise RoundError("conflict", "The round has already ended.")
    outcomes = list(state.outcomes)
    outcomes[state.current] = TurnOutcome.DONE
    return RoundStep(
        replace(state, outcomes=tuple(outcomes), current=None, ended=True),
        ended_turns=(EndedTurn(state.order[state.current], TurnOutcome.DONE),),
        round_ended=True,
    )


def current_speaker(state: RoundState) -> int | None:
    return None if state.current is None else state.order[state.current]


def up_next(state: RoundState, present: Collection[int]) -> int | None:
    """Who would speak after the current turn if presence stayed as it is (for the
    "you're next" hint; someone reconnecting before then can still get ahead)."""
    if state.current is None:
        return None
    for index in range(state.current + 1, len(state.order)):
        member = state.order[index]
        if state.outcomes[index] is None and member in present:
            return member
    return None


def check_speaker(state: RoundState, membership_id: int, turn_number: int | None = None) -> int:
    """The intrinsic guard for `turn.done`/`turn.pass`: only the current speaker may end
    his own turn. Returns the current turn number, to hand to `end_turn`."""
    if current_speaker(state) != membership_id:
        raise RoundError("not_your_turn")
    if turn_number is not None and turn_number != state.turn_number:
        raise RoundError("conflict")
    return state.turn_number


def _require_unique(members: tuple[int, ...]) -> None:
    if len(set(members)) != len(members):
        raise RoundError("invalid", "A member can appear only once in a round.")


def _require_turn(state: RoundState, turn_number: int) -> int:
    if state.current is None:
        raise RoundError("conflict", "The round has already ended.")
    if turn_number != state.turn_number:
        raise RoundError("conflict")
    return state.current


def _advance(
    *,
    order: tuple[int, ...],
    outcomes: list[TurnOutcome | None],
    start: int,
    turn_number: int,
    present: Collection[int],
    ended: list[EndedTurn],
) -> RoundStep:
    """Move the pointer from `start` to the next present member who has no outcome,
    skipping the absent ones it passes; end the round if there is nobody left."""
    for index in range(start, len(order)):
        if outcomes[index] is not None:
            continue  # removed before his turn: already skipped and reported
        member = order[index]
        if member in present:
            state = RoundState(order, tuple(outcomes), index, turn_number + 1, ended=False)
            return RoundStep(state, tuple(ended), started_turn=member)
        outcomes[index] = TurnOutcome.SKIPPED
        ended.append(EndedTurn(member, TurnOutcome.SKIPPED))
    state = RoundState(order, tuple(outcomes), None, turn_number, ended=True)
    return RoundStep(state, tuple(ended), round_ended=True)
