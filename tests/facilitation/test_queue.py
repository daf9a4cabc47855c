"""Table-driven tests of the speaking queue: pure functions, no database."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facilitation.queue import (
    QueueEntry,
    QueueError,
    QueueState,
    grant_floor,
    lower_hand,
    may_chat,
    move,
    position_of,
    raise_hand,
    release_floor,
    remove_member,
    set_mode,
)

T0 = datetime(2026, 3, 1, 18, 0, tzinfo=UTC)
NOW = T0 + timedelta(minutes=30)


def hand(member: int, minute: int) -> QueueEntry:
    return QueueEntry(member, T0 + timedelta(minutes=minute))


def queue(
    *members: int, floor: int | None = None, talking_piece: bool = False, progressive: bool = False
) -> QueueState:
    """A queue of `members` in that order, who raised their hands a minute apart."""
    return QueueState(
        entries=tuple(hand(m, i) for i, m in enumerate(members)),
        floor=floor,
        talking_piece=talking_piece,
        progressive=progressive,
    )


# --- raise_hand --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "member", "spoken", "expected_order"),
    [
        pytest.param(queue(), 5, {}, (5,), id="first-hand"),
        pytest.param(queue(1, 2), 5, {1: 3, 2: 1}, (1, 2, 5), id="appended-when-not-progressive"),
        pytest.param(queue(1, 2, 3), 2, {}, (1, 2, 3), id="raising-twice-keeps-place"),
        pytest.param(
            queue(1, 2, 3, progressive=True),
            5,
            {2: 1, 3: 2},
            (1, 5, 2, 3),
            id="progressive-newcomer-ahead-of-those-who-spoke",
        ),
        pytest.param(
            queue(1, 2, 3, progressive=True),
            5,
            {1: 1, 2: 1, 3: 2, 5: 1},
            (1, 2, 5, 3),
            id="progressive-behind-equal-counts",
        ),
        pytest.param(
            queue(1, 2, 3, progressive=True),
            5,
            {1: 1, 2: 2, 3: 2, 5: 3},
            (1, 2, 3, 5),
            id="progressive-most-spoken-goes-last",
        ),
        pytest.param(
            queue(1, 2, progressive=True),
            5,
            {},
            (1, 2, 5),
            id="progressive-nobody-spoke-is-fifo",
        ),
        pytest.param(
            queue(3, 1, 2, progressive=True),  # the facilitator moved 3 (spoke twice) first
            5,
            {3: 2},
            (5, 3, 1, 2),
            id="progressive-ahead-of-first-who-spoke-more-after-a-move",
        ),
    ],
)
def test_raise_hand(
    state: QueueState, member: int, spoken: dict[int, int], expected_order: tuple[int, ...]
) -> None:
    new = raise_hand(state, membership_id=member, now=NOW, spoken_counts=spoken)

    assert new.queued == expected_order
    assert new.floor == state.floor


def test_raise_hand_records_when_and_keeps_first_time() -> None:
    once = raise_hand(queue(), membership_id=5, now=NOW, spoken_counts={})
    twice = raise_hand(once, membership_id=5, now=NOW + timedelta(minutes=1), spoken_counts={})

    assert twice.entries == (QueueEntry(5, NOW),)


@pytest.mark.parametrize(
    ("state", "now", "code"),
    [
        pytest.param(queue(1, floor=5), NOW, "conflict", id="floor-holder-raises"),
        pytest.param(queue(1), NOW.replace(tzinfo=None), "invalid", id="naive-now"),
    ],
)
def test_raise_hand_rejects(state: QueueState, now: datetime, code: str) -> None:
    with pytest.raises(QueueError) as caught:
        raise_hand(state, membership_id=5, now=now, spoken_counts={})
    assert caught.value.code == code


# --- lower_hand, grant_floor, release_floor, remove_member -------------------------------


@pytest.mark.parametrize(
    ("state", "apply", "expected"),
    [
        pytest.param(
            queue(1, 2, 3),
            lambda s: lower_hand(s, membership_id=2),
            QueueState(entries=(hand(1, 0), hand(3, 2))),
            id="lower-removes-only-him",
        ),
        pytest.param(
            queue(1, 2), lambda s: lower_hand(s, membership_id=9), queue(1, 2), id="lower-absent"
        ),
        pytest.param(
            queue(1, floor=2),
            lambda s: lower_hand(s, membership_id=2),
            queue(1, floor=2),
            id="lower-keeps-floor",
        ),
        pytest.param(
            queue(1, 2, 3),
            lambda s: grant_floor(s, membership_id=2),
            QueueState(entries=(hand(1, 0), hand(3, 2)), floor=2),
            id="grant-to-queued-takes-him-out",
        ),
        pytest.param(
            queue(1, 2),
            lambda s: grant_floor(s, membership_id=7),
            queue(1, 2, floor=7),
            id="grant-without-raised-hand",
        ),
        pytest.param(
            queue(1, floor=4),
            lambda s: grant_floor(s, membership_id=7),
            queue(1, floor=7),
            id="grant-replaces-holder-not-requeued",
        ),
        pytest.param(
            queue(1, floor=4),
            lambda s: grant_floor(s, membership_id=4),
            queue(1, floor=4),
            id="grant-to-holder-again",
        ),
        pytest.param(
            queue(1, 2, floor=4, talking_piece=True),
            release_floor,
            queue(1, 2, talking_piece=True),
            id="release-keeps-queue-and-mode",
        ),
        pytest.param(queue(1), release_floor, queue(1), id="release-without-holder"),
        pytest.param(
            queue(1, 2, floor=4),
            lambda s: remove_member(s, 1),
            QueueState(entries=(hand(2, 1),), floor=4),
            id="remove-queued",
        ),
        pytest.param(
            queue(1, 2, floor=4),
            lambda s: remove_member(s, 4),
            queue(1, 2),
            id="remove-floor-holder",
        ),
        pytest.param(
            queue(1, floor=4), lambda s: remove_member(s, 9), queue(1, floor=4), id="remove-absent"
        ),
    ],
)
def test_transition(
    state: QueueState, apply: Callable[[QueueState], QueueState], expected: QueueState
) -> None:
    assert apply(state) == expected


# --- move --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "position", "expected_order"),
    [
        pytest.param(3, 0, (3, 1, 2, 4), id="to-front"),
        pytest.param(1, 3, (2, 3, 4, 1), id="to-back"),
        pytest.param(1, 2, (2, 3, 1, 4), id="to-middle"),
        pytest.param(2, 1, (1, 2, 3, 4), id="same-place"),
        pytest.param(3, -5, (3, 1, 2, 4), id="negative-clamped-to-front"),
        pytest.param(4, -1, (4, 1, 2, 3), id="minus-one-is-front-not-python-index"),
        pytest.param(2, 99, (1, 3, 4, 2), id="past-end-clamped-to-back"),
    ],
)
def test_move(member: int, position: int, expected_order: tuple[int, ...]) -> None:
    state = queue(1, 2, 3, 4)

    new = move(state, membership_id=member, position=position)

    assert new.queued == expected_order
    assert set(new.entries) == set(state.entries)  # raised_at travels with the person


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(queue(1, 2), id="not-queued"),
        pytest.param(queue(1, 2, floor=9), id="floor-holder"),
        pytest.param(queue(), id="empty-queue"),
    ],
)
def test_move_unqueued_is_not_found(state: QueueState) -> None:
    with pytest.raises(QueueError) as caught:
        move(state, membership_id=9, position=0)
    assert caught.value.code == "not_found"


# --- set_mode ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "talking_piece", "progressive", "spoken", "expected"),
    [
        pytest.param(
            queue(1, 2, 3, 4),
            False,
            True,
            {1: 2, 2: 0, 3: 1, 4: 0},
            QueueState(entries=(hand(2, 1), hand(4, 3), hand(3, 2), hand(1, 0)), progressive=True),
            id="progressive-on-sorts-stably-by-times-spoken",
        ),
        pytest.param(
            queue(3, 1, 2, progressive=True),
            False,
            False,
            {1: 0, 2: 0, 3: 5},
            queue(3, 1, 2),
            id="progressive-off-keeps-order",
        ),
        pytest.param(
            queue(3, 1, 2, progressive=True),
            True,
            True,
            {1: 0, 2: 0, 3: 5},
            queue(3, 1, 2, talking_piece=True, progressive=True),
            id="staying-progressive-keeps-facilitator-moves",
        ),
        pytest.param(
            queue(2, 1, floor=7),
            True,
            False,
            {2: 3},
            queue(2, 1, floor=7, talking_piece=True),
            id="talking-piece-on-keeps-order-and-floor",
        ),
        pytest.param(
            queue(2, 1, floor=7, talking_piece=True),
            False,
            False,
            {},
            queue(2, 1, floor=7),
            id="talking-piece-off",
        ),
    ],
)
def test_set_mode(
    state: QueueState,
    talking_piece: bool,
    progressive: bool,
    spoken: dict[int, int],
    expected: QueueState,
) -> None:
    new = set_mode(
        state, talking_piece=talking_piece, progressive=progressive, spoken_counts=spoken
    )
    assert new == expected


# --- may_chat ----------------------------------------------------------------------------

PIECE_HELD_BY_4 = queue(1, floor=4, talking_piece=True)
OPEN = queue(1, floor=4)


@pytest.mark.parametrize(
    ("is_facilitator", "member", "state", "round_speaker", "round_active", "expected"),
    [
        pytest.param(False, 2, OPEN, None, False, None, id="open-floor-anyone"),
        pytest.param(False, 2, PIECE_HELD_BY_4, None, False, "not_your_turn", id="piece-other"),
        pytest.param(False, 1, PIECE_HELD_BY_4, None, False, "not_your_turn", id="piece-queued"),
        pytest.param(False, 4, PIECE_HELD_BY_4, None, False, None, id="piece-holder"),
        pytest.param(True, 2, PIECE_HELD_BY_4, None, False, None, id="piece-facilitator"),
        pytest.param(
            False, 2, queue(talking_piece=True), None, False, "not_your_turn", id="piece-no-holder"
        ),
        pytest.param(False, 3, OPEN, 3, True, None, id="round-speaker"),
        pytest.param(False, 2, OPEN, 3, True, "not_your_turn", id="round-other"),
        pytest.param(False, 4, OPEN, 3, True, "not_your_turn", id="round-beats-floor"),
        pytest.param(False, 3, PIECE_HELD_BY_4, 3, True, None, id="round-beats-piece"),
        pytest.param(True, 2, OPEN, 3, True, None, id="round-facilitator"),
        pytest.param(False, 2, OPEN, None, True, "not_your_turn", id="round-without-speaker"),
    ],
)
def test_may_chat(
    is_facilitator: bool,
    member: int,
    state: QueueState,
    round_speaker: int | None,
    round_active: bool,
    expected: str | None,
) -> None:
    result = may_chat(
        is_facilitator=is_facilitator,
        membership_id=member,
        queue=state,
        round_speaker=round_speaker,
        round_active=round_active,
    )
    assert result == expected


# --- QueueState consistency, helpers and persistence ------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(
            lambda: QueueState(entries=(QueueEntry(1, T0), QueueEntry(1, NOW))), id="queued-twice"
        ),
        pytest.param(
            lambda: QueueState(entries=(QueueEntry(1, T0),), floor=1), id="floor-holder-queued"
        ),
        pytest.param(lambda: QueueEntry(1, T0.replace(tzinfo=None)), id="naive-raised-at"),
    ],
)
def test_inconsistent_state_is_refused(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        pytest.param(1, 0, id="first"),
        pytest.param(3, 2, id="third"),
        pytest.param(4, None, id="floor-holder"),
        pytest.param(9, None, id="absent"),
    ],
)
def test_position_of(member: int, expected: int | None) -> None:
    assert position_of(queue(1, 2, 3, floor=4), member) == expected


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(QueueState(), id="empty"),
        pytest.param(queue(3, 1, floor=2, talking_piece=True, progressive=True), id="full"),
    ],
)
def test_dict_round_trip(state: QueueState) -> None:
    data = state.to_dict()

    assert all(type(e["raised_at"]) is str for e in data["entries"])
    assert QueueState.from_dict(data) == state


# --- property: any sequence of operations keeps the invariants --------------------------

MEMBERS = st.integers(1, 6)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("raise"), MEMBERS),
        st.tuples(st.just("lower"), MEMBERS),
        st.tuples(st.just("grant"), MEMBERS),
        st.tuples(st.just("release"), st.none()),
        st.tuples(st.just("move"), MEMBERS, st.integers(-3, 8)),
        st.tuples(st.just("mode"), st.booleans(), st.booleans()),
        st.tuples(st.just("remove"), MEMBERS),
    ),
    max_size=40,
)
SPOKEN = st.dictionaries(st.integers(1, 6), st.integers(0, 3))


def _apply(
    state: QueueState, op: tuple[object, ...], now: datetime, spoken: dict[int, int]
) -> QueueState:
    match op:
        case ("raise", int(member)):
            try:
                return raise_hand(state, membership_id=member, now=now, spoken_counts=spoken)
            except QueueError as error:
                assert error.code == "conflict" and state.floor == member
                return state
        case ("lower", int(member)):
            return lower_hand(state, membership_id=member)
        case ("grant", int(member)):
            return grant_floor(state, membership_id=member)
        case ("release", None):
            return release_floor(state)
        case ("move", int(member), int(position)):
            try:
                return move(state, membership_id=member, position=position)
            except QueueError as error:
                assert error.code == "not_found" and member not in state.queued
                return state
        case ("mode", bool(talking_piece), bool(progressive)):
            return set_mode(
                state, talking_piece=talking_piece, progressive=progressive, spoken_counts=spoken
            )
        case ("remove", int(member)):
            return remove_member(state, member)
    raise AssertionError(f"unknown operation {op!r}")


@given(ops=operations, spoken=SPOKEN)
def test_queue_never_holds_a_person_twice(
    ops: list[tuple[object, ...]], spoken: dict[int, int]
) -> None:
    state = QueueState()
    for tick, op in enumerate(ops):
        state = _apply(state, op, T0 + timedelta(seconds=tick), spoken)

        queued = [e.membership_id for e in state.entries]
        assert len(queued) == len(set(queued)), "someone is queued twice"
        assert state.floor not in queued, "the floor holder is queued"
        match op:
            case ("raise", member) if state.floor != member:
                assert member in queued
            case ("lower" | "grant" | "remove", member):
                assert member not in queued
        if op[0] == "grant":
            assert state.floor == op[1]


@given(
    ops=st.lists(
        st.one_of(
            st.tuples(st.just("raise"), MEMBERS),
            st.tuples(st.just("lower"), MEMBERS),
            st.tuples(st.just("grant"), MEMBERS),
            st.tuples(st.just("remove"), MEMBERS),
        ),
        max_size=40,
    ),
    spoken=SPOKEN,
    progressive=st.booleans(),
)
def test_queue_order_without_moves(
    ops: list[tuple[object, ...]], spoken: dict[int, int], progressive: bool
) -> None:
    """Without moves: first come first served, and in progressive mode fewest-spoken first
    (first come first served among equals)."""
    state = QueueState(progressive=progressive)
    for tick, op in enumerate(ops):
        state = _apply(state, op, T0 + timedelta(seconds=tick), spoken)

        keys = [
            (spoken.get(e.membership_id, 0) if progressive else 0, e.raised_at)
            for e in state.entries
        ]
        assert keys == sorted(keys)
