"""Table-driven tests of the round state machine: pure functions, no database."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest
from hypothesis import given
from hypothesis import strategies as st

from facilitation.rounds import (
    EndedTurn,
    RoundError,
    RoundOrder,
    RoundState,
    RoundStep,
    TurnOutcome,
    add_participant,
    build_order,
    check_speaker,
    current_speaker,
    end_round,
    end_turn,
    remove_participant,
    start_round,
    up_next,
)

DONE, PASSED, SKIPPED = TurnOutcome.DONE, TurnOutcome.PASSED, TurnOutcome.SKIPPED


def running(
    *order: int,
    at: int,
    turn: int,
    outcomes: dict[int, TurnOutcome | None] | None = None,
) -> RoundState:
    """A live round over `order` in which member `at` is speaking in turn `turn`.
    Members before him spoke ("done") unless `outcomes` says otherwise."""
    current = order.index(at)
    given_outcomes = outcomes or {}
    return RoundState(
        order=order,
        outcomes=tuple(
            given_outcomes.get(m, DONE if i < current else None) for i, m in enumerate(order)
        ),
        current=current,
        turn_number=turn,
        ended=False,
    )


def finished(*order: int, outcomes: tuple[TurnOutcome | None, ...], turn: int = 3) -> RoundState:
    return RoundState(order=order, outcomes=outcomes, current=None, turn_number=turn, ended=True)


# --- build_order -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("participants", "order", "facilitators", "shuffled", "expected"),
    [
        pytest.param((4, 2, 9), "seating", {9}, None, (4, 2, 9), id="seating-keeps-join-order"),
        pytest.param(
            (4, 2, 9), "seating", set(), (9, 2, 4), (4, 2, 9), id="seating-ignores-shuffle"
        ),
        pytest.param((4, 2, 9), "random", set(), (9, 4, 2), (9, 4, 2), id="random-uses-shuffle"),
        pytest.param(
            (4, 2, 9, 7),
            "facilitator_first",
            {9, 2},
            None,
            (2, 9, 4, 7),
            id="facilitators-first-in-seating-order",
        ),
        pytest.param(
            (4, 2),
            "facilitator_first",
            {5},
            None,
            (4, 2),
            id="absent-facilitator-not-added",
        ),
        pytest.param(
            (4, 2), "facilitator_first", set(), None, (4, 2), id="no-facilitator-is-seating"
        ),
        pytest.param((), "random", set(), (), (), id="empty-random"),
        pytest.param(
            (4, 2), RoundOrder.FACILITATOR_FIRST, [2], None, (2, 4), id="enum-and-list-accepted"
        ),
    ],
)
def test_build_order(
    participants: tuple[int, ...],
    order: RoundOrder,
    facilitators: Collection[int],
    shuffled: tuple[int, ...] | None,
    expected: tuple[int, ...],
) -> None:
    result = build_order(
        participants=participants, order=order, facilitator_ids=facilitators, shuffled=shuffled
    )
    assert result == expected


@pytest.mark.parametrize(
    ("participants", "order", "shuffled"),
    [
        pytest.param((1, 2, 3), "random", None, id="random-without-shuffle"),
        pytest.param((1, 2, 3), "random", (3, 1), id="shuffle-drops-a-member"),
        pytest.param((1, 2, 3), "random", (3, 1, 2, 4), id="shuffle-adds-a-member"),
        pytest.param((1, 2, 3), "random", (3, 1, 1), id="shuffle-repeats-a-member"),
        pytest.param((1, 2, 2), "seating", None, id="participant-twice"),
        pytest.param((1, 2), "alphabetical", None, id="unknown-order"),
    ],
)
def test_build_order_rejects(
    participants: tuple[int, ...], order: RoundOrder, shuffled: tuple[int, ...] | None
) -> None:
    with pytest.raises(RoundError) as caught:
        build_order(participants=participants, order=order, facilitator_ids=(), shuffled=shuffled)
    assert caught.value.code == "invalid"


# --- start_round -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "present", "expected"),
    [
        pytest.param(
            (1, 2, 3),
            {1, 2, 3},
            RoundStep(running(1, 2, 3, at=1, turn=1), started_turn=1),
            id="first-member-starts",
        ),
        pytest.param(
            (1, 2, 3),
            {2, 3},
            RoundStep(
                running(1, 2, 3, at=2, turn=1, outcomes={1: SKIPPED}),
                ended_turns=(EndedTurn(1, SKIPPED),),
                started_turn=2,
            ),
            id="absent-first-member-skipped",
        ),
        pytest.param(
            (1, 2, 3),
            {1, 3},
            RoundStep(running(1, 2, 3, at=1, turn=1), started_turn=1),
            id="absent-later-member-not-skipped-yet",
        ),
        pytest.param(
            (1, 2),
            {7},
            RoundStep(
                finished(1, 2, outcomes=(SKIPPED, SKIPPED), turn=0),
                ended_turns=(EndedTurn(1, SKIPPED), EndedTurn(2, SKIPPED)),
                round_ended=True,
            ),
            id="nobody-present-round-ends",
        ),
        pytest.param(
            (),
            {1},
            RoundStep(finished(outcomes=(), turn=0), round_ended=True),
            id="empty-order-round-ends",
        ),
    ],
)
def test_start_round(order: tuple[int, ...], present: set[int], expected: RoundStep) -> None:
    assert start_round(order=order, present=present) == expected


def test_start_round_rejects_duplicate_member() -> None:
    with pytest.raises(RoundError) as caught:
        start_round(order=(1, 2, 1), present={1, 2})
    assert caught.value.code == "invalid"


# --- end_turn ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "outcome", "present", "expected"),
    [
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            DONE,
            {1, 2, 3},
            RoundStep(
                running(1, 2, 3, at=2, turn=2, outcomes={1: DONE}),
                ended_turns=(EndedTurn(1, DONE),),
                started_turn=2,
            ),
            id="done-starts-next",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            PASSED,
            {1, 2, 3},
            RoundStep(
                running(1, 2, 3, at=2, turn=2, outcomes={1: PASSED}),
                ended_turns=(EndedTurn(1, PASSED),),
                started_turn=2,
            ),
            id="pass-is-always-allowed",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            SKIPPED,
            {1, 2, 3},
            RoundStep(
                running(1, 2, 3, at=2, turn=2, outcomes={1: SKIPPED}),
                ended_turns=(EndedTurn(1, SKIPPED),),
                started_turn=2,
            ),
            id="facilitator-skips-speaker",
        ),
        pytest.param(
            running(1, 2, 3, 4, at=1, turn=1),
            DONE,
            {1, 4},
            RoundStep(
                running(1, 2, 3, 4, at=4, turn=2, outcomes={2: SKIPPED, 3: SKIPPED}),
                ended_turns=(EndedTurn(1, DONE), EndedTurn(2, SKIPPED), EndedTurn(3, SKIPPED)),
                started_turn=4,
            ),
            id="absent-members-passed-are-skipped",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            DONE,
            {1, 3},
            RoundStep(
                running(1, 2, 3, at=3, turn=2, outcomes={2: SKIPPED}),
                ended_turns=(EndedTurn(1, DONE), EndedTurn(2, SKIPPED)),
                started_turn=3,
            ),
            id="member-who-left-before-his-turn-is-skipped",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1, outcomes={2: SKIPPED}),
            DONE,
            {1, 2, 3},
            RoundStep(
                running(1, 2, 3, at=3, turn=2, outcomes={2: SKIPPED}),
                ended_turns=(EndedTurn(1, DONE),),
                started_turn=3,
            ),
            id="removed-member-stepped-over-silently",
        ),
        pytest.param(
            running(1, 2, 3, at=3, turn=3),
            DONE,
            {1, 2, 3},
            RoundStep(
                finished(1, 2, 3, outcomes=(DONE, DONE, DONE)),
                ended_turns=(EndedTurn(3, DONE),),
                round_ended=True,
            ),
            id="last-turn-ends-round",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            PASSED,
            {1},
            RoundStep(
                finished(1, 2, 3, outcomes=(PASSED, SKIPPED, SKIPPED), turn=1),
                ended_turns=(EndedTurn(1, PASSED), EndedTurn(2, SKIPPED), EndedTurn(3, SKIPPED)),
                round_ended=True,
            ),
            id="everyone-left-round-ends",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            "done",
            {2},
            RoundStep(
                running(1, 2, 3, at=2, turn=2),
                ended_turns=(EndedTurn(1, DONE),),
                started_turn=2,
            ),
            id="outcome-as-protocol-string",
        ),
    ],
)
def test_end_turn(
    state: RoundState, outcome: TurnOutcome, present: set[int], expected: RoundStep
) -> None:
    assert end_turn(state, turn_number=state.turn_number, outcome=outcome, present=present) == (
        expected
    )


@pytest.mark.parametrize(
    ("state", "turn_number", "outcome", "code"),
    [
        pytest.param(running(1, 2, at=2, turn=2), 1, DONE, "conflict", id="stale-turn"),
        pytest.param(running(1, 2, at=2, turn=2), 3, DONE, "conflict", id="future-turn"),
        pytest.param(
            finished(1, 2, outcomes=(DONE, DONE), turn=2), 2, DONE, "conflict", id="round-ended"
        ),
        pytest.param(running(1, 2, at=1, turn=1), 1, "finished", "invalid", id="bad-outcome"),
    ],
)
def test_end_turn_rejects(
    state: RoundState, turn_number: int, outcome: TurnOutcome, code: str
) -> None:
    with pytest.raises(RoundError) as caught:
        end_turn(state, turn_number=turn_number, outcome=outcome, present={1, 2})
    assert caught.value.code == code


def test_two_nexts_for_the_same_turn_advance_one_turn() -> None:
    state = start_round(order=(1, 2, 3), present={1, 2, 3}).state
    turn = state.turn_number

    first = end_turn(state, turn_number=turn, outcome=DONE, present={1, 2, 3})
    with pytest.raises(RoundError) as caught:
        end_turn(first.state, turn_number=turn, outcome=DONE, present={1, 2, 3})

    assert caught.value.code == "conflict"
    assert current_speaker(first.state) == 2
    assert first.state.outcomes == (DONE, None, None)


def test_member_reconnecting_before_his_turn_keeps_his_place() -> None:
    step = start_round(order=(1, 2, 3), present={1, 3})  # 2 is away when the round starts
    assert up_next(step.state, {1, 3}) == 3

    step = end_turn(step.state, turn_number=step.state.turn_number, outcome=DONE, present={1, 2, 3})

    assert step.started_turn == 2
    assert step.ended_turns == (EndedTurn(1, DONE),)


def test_member_back_after_being_skipped_gets_no_second_turn() -> None:
    step = start_round(order=(1, 2, 3), present={1, 3})
    step = end_turn(step.state, turn_number=1, outcome=DONE, present={1, 3})  # passes 2
    state = add_participant(step.state, 2)  # 2 reconnects: already in the round

    step = end_turn(state, turn_number=2, outcome=DONE, present={1, 2, 3})

    assert step.round_ended
    assert step.state.outcomes == (DONE, SKIPPED, DONE)


# --- add_participant ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "member", "expected"),
    [
        pytest.param(
            running(1, 2, at=1, turn=1),
            5,
            running(1, 2, 5, at=1, turn=1),
            id="late-joiner-appended",
        ),
        pytest.param(
            running(1, 2, at=1, turn=1),
            2,
            running(1, 2, at=1, turn=1),
            id="waiting-member-unchanged",
        ),
        pytest.param(
            running(1, 2, at=2, turn=2, outcomes={1: SKIPPED}),
            1,
            running(1, 2, at=2, turn=2, outcomes={1: SKIPPED}),
            id="skipped-member-not-requeued",
        ),
        pytest.param(
            finished(1, 2, outcomes=(DONE, DONE)),
            5,
            finished(1, 2, outcomes=(DONE, DONE)),
            id="ended-round-unchanged",
        ),
    ],
)
def test_add_participant(state: RoundState, member: int, expected: RoundState) -> None:
    assert add_participant(state, member) == expected


def test_late_joiner_speaks_after_everyone_else() -> None:
    state = add_participant(running(1, 2, at=2, turn=2), 5)

    step = end_turn(state, turn_number=2, outcome=DONE, present={1, 2, 5})

    assert step.started_turn == 5
    assert step.state.turn_number == 3


# --- remove_participant ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "member", "present", "expected"),
    [
        pytest.param(
            running(1, 2, 3, at=2, turn=2),
            2,
            {1, 3},
            RoundStep(
                running(1, 2, 3, at=3, turn=3, outcomes={2: SKIPPED}),
                ended_turns=(EndedTurn(2, SKIPPED),),
                started_turn=3,
            ),
            id="current-speaker-removed-turn-skipped-next-starts",
        ),
        pytest.param(
            running(1, 2, at=2, turn=2),
            2,
            {1},
            RoundStep(
                finished(1, 2, outcomes=(DONE, SKIPPED), turn=2),
                ended_turns=(EndedTurn(2, SKIPPED),),
                round_ended=True,
            ),
            id="last-speaker-removed-round-ends",
        ),
        pytest.param(
            running(1, 2, 3, at=1, turn=1),
            3,
            {1, 2},
            RoundStep(
                running(1, 2, 3, at=1, turn=1, outcomes={3: SKIPPED}),
                ended_turns=(EndedTurn(3, SKIPPED),),
            ),
            id="waiting-member-removed-marked-skipped",
        ),
        pytest.param(
            running(1, 2, 3, at=2, turn=2),
            1,
            {2, 3},
            RoundStep(running(1, 2, 3, at=2, turn=2)),
            id="member-who-spoke-keeps-outcome",
        ),
        pytest.param(
            running(1, 2, at=1, turn=1),
            9,
            {1, 2},
            RoundStep(running(1, 2, at=1, turn=1)),
            id="member-not-in-round-no-op",
        ),
        pytest.param(
            finished(1, 2, outcomes=(DONE, None)),
            2,
            {1},
            RoundStep(finished(1, 2, outcomes=(DONE, None))),
            id="ended-round-no-op",
        ),
    ],
)
def test_remove_participant(
    state: RoundState, member: int, present: set[int], expected: RoundStep
) -> None:
    assert remove_participant(state, member, present) == expected


def test_removed_member_never_gets_a_turn_even_when_present() -> None:
    step = remove_participant(running(1, 2, 3, at=1, turn=1), 2, {1, 2, 3})

    step = end_turn(step.state, turn_number=1, outcome=DONE, present={1, 2, 3})

    assert step.started_turn == 3
    assert step.ended_turns == (EndedTurn(1, DONE),)


# --- end_round ---------------------------------------------------------------------------


def test_end_round_mid_turn() -> None:
    step = end_round(running(1, 2, 3, at=2, turn=2))

    assert step == RoundStep(
        finished(1, 2, 3, outcomes=(DONE, DONE, None), turn=2),
        ended_turns=(EndedTurn(2, DONE),),
        round_ended=True,
    )


def test_end_round_twice_is_a_conflict() -> None:
    with pytest.raises(RoundError) as caught:
        end_round(finished(1, 2, outcomes=(DONE, None)))
    assert caught.value.code == "conflict"


# --- speaker helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "member", "turn_number", "expected"),
    [
        pytest.param(running(1, 2, at=2, turn=2), 2, None, 2, id="speaker-any-turn"),
        pytest.param(running(1, 2, at=2, turn=2), 2, 2, 2, id="speaker-named-turn"),
        pytest.param(running(1, 2, at=2, turn=2), 1, None, "not_your_turn", id="not-speaker"),
        pytest.param(
            finished(1, 2, outcomes=(DONE, DONE)), 2, None, "not_your_turn", id="round-ended"
        ),
        pytest.param(running(1, 2, at=2, turn=2), 2, 1, "conflict", id="speaker-stale-turn"),
    ],
)
def test_check_speaker(
    state: RoundState, member: int, turn_number: int | None, expected: int | str
) -> None:
    if isinstance(expected, int):
        assert check_speaker(state, member, turn_number) == expected
    else:
        with pytest.raises(RoundError) as caught:
            check_speaker(state, member, turn_number)
        assert caught.value.code == expected


def test_member_ends_own_turn_with_check_speaker() -> None:
    state = running(1, 2, at=1, turn=1)

    turn = check_speaker(state, 1)
    step = end_turn(state, turn_number=turn, outcome=PASSED, present={1, 2})

    assert step.ended_turns == (EndedTurn(1, PASSED),)
    assert step.started_turn == 2


@pytest.mark.parametrize(
    ("state", "present", "expected"),
    [
        pytest.param(running(1, 2, 3, at=1, turn=1), {1, 2, 3}, 2, id="next-in-order"),
        pytest.param(running(1, 2, 3, at=1, turn=1), {1, 3}, 3, id="absent-member-passed"),
        pytest.param(
            running(1, 2, 3, at=1, turn=1, outcomes={2: SKIPPED}),
            {1, 2, 3},
            3,
            id="removed-member-passed",
        ),
        pytest.param(running(1, 2, at=2, turn=2), {1, 2}, None, id="last-speaker"),
        pytest.param(finished(1, 2, outcomes=(DONE, None)), {1, 2}, None, id="ended"),
    ],
)
def test_up_next(state: RoundState, present: set[int], expected: int | None) -> None:
    assert up_next(state, present) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(running(4, 8, at=8, turn=2), 8, id="live"),
        pytest.param(finished(4, 8, outcomes=(DONE, DONE)), None, id="ended"),
    ],
)
def test_current_speaker(state: RoundState, expected: int | None) -> None:
    assert current_speaker(state) == expected


# --- RoundState consistency and persistence ------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: RoundState((1, 2), (None,), 0, 1, False), id="length-mismatch"),
        pytest.param(lambda: RoundState((1, 1), (None, None), 0, 1, False), id="duplicate"),
        pytest.param(lambda: RoundState((1, 2), (None, None), None, 1, False), id="waiting"),
        pytest.param(lambda: RoundState((1, 2), (None, None), 0, 1, True), id="ended-with-turn"),
        pytest.param(lambda: RoundState((1, 2), (None, None), 2, 1, False), id="out-of-range"),
        pytest.param(lambda: RoundState((1, 2), (None, None), 0, 0, False), id="turn-zero-live"),
        pytest.param(lambda: RoundState((1,), (None,), None, -1, True), id="negative-turn"),
        pytest.param(lambda: RoundState((1, 2), (None, None), 1, 1, False), id="earlier-unspoken"),
        pytest.param(lambda: RoundState((1, 2), (DONE, None), 0, 1, False), id="current-spoke"),
        pytest.param(lambda: RoundState((1, 2), (None, DONE), 0, 1, False), id="later-spoke"),
        pytest.param(
            lambda: RoundState((1,), ("talked",), None, 1, True),  # type: ignore[arg-type]
            id="unknown-outcome",
        ),
    ],
)
def test_inconsistent_state_is_refused(build: Callable[[], RoundState]) -> None:
    with pytest.raises(ValueError):
        build()


def test_state_loaded_with_lists_and_strings_is_normalised() -> None:
    state = RoundState([1, 2], ["done", None], 1, 2, False)  # type: ignore[arg-type]

    assert state == running(1, 2, at=2, turn=2)
    assert state.outcomes[0] is DONE
    hash(state)  # tuples all the way down: usable as a value


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(running(1, 2, 3, at=2, turn=4, outcomes={1: PASSED}), id="live"),
        pytest.param(finished(1, 2, outcomes=(SKIPPED, None)), id="ended"),
    ],
)
def test_dict_round_trip(state: RoundState) -> None:
    data = state.to_dict()

    assert all(o is None or type(o) is str for o in data["outcomes"])
    assert RoundState.from_dict(data) == state


# --- property: any sequence of commands keeps the round's promises ----------------------

MEMBERS = range(1, 7)
presence = st.frozensets(st.sampled_from(MEMBERS))
commands = st.lists(
    st.one_of(
        st.tuples(st.just("end"), st.sampled_from(TurnOutcome), presence),
        st.tuples(st.just("stale"), st.sampled_from(TurnOutcome), presence),
        st.tuples(st.just("add"), st.integers(1, 9), presence),
        st.tuples(st.just("remove"), st.integers(1, 9), presence),
        st.tuples(st.just("end_round"), st.none(), presence),
    ),
    max_size=25,
)


@given(
    order=st.permutations(list(MEMBERS)).flatmap(lambda p: st.integers(0, 6).map(lambda n: p[:n])),
    present=presence,
    script=commands,
)
def test_commands_keep_round_invariants(
    order: list[int], present: frozenset[int], script: list[tuple[str, object, frozenset[int]]]
) -> None:
    step = start_round(order=order, present=present)
    started = [] if step.started_turn is None else [step.started_turn]
    assert step.started_turn is None or step.started_turn in present

    for command, arg, now_present in script:
        state = step.state
        match command:
            case "end" | "stale":
                assert isinstance(arg, TurnOutcome)
                turn = state.turn_number - (command == "stale")
                if state.ended or command == "stale":
                    with pytest.raises(RoundError) as caught:
                        end_turn(state, turn_number=turn, outcome=arg, present=now_present)
                    assert caught.value.code == "conflict"
                    continue
                step = end_turn(state, turn_number=turn, outcome=arg, present=now_present)
            case "add":
                assert isinstance(arg, int)
                step = RoundStep(add_participant(state, arg))
            case "remove":
                assert isinstance(arg, int)
                step = remove_participant(state, arg, now_present)
                assert current_speaker(step.state) != arg
            case _ if state.ended:
                with pytest.raises(RoundError) as caught:
                    end_round(state)
                assert caught.value.code == "conflict"
                continue
            case _:
                step = end_round(state)

        new = step.state
        # The events tell the same story as the state.
        for member, outcome in step.ended_turns:
            assert new.outcomes[new.order.index(member)] == outcome
        assert step.round_ended == (new.ended and not state.ended)
        if step.started_turn is not None:
            assert step.started_turn == current_speaker(new)
            assert step.started_turn in now_present
            assert new.turn_number == state.turn_number + 1
            started.append(step.started_turn)
        else:
            assert new.turn_number == state.turn_number
        # The order only grows, at its end; decided outcomes never change.
        assert new.order[: len(state.order)] == state.order
        for before, after in zip(state.outcomes, new.outcomes, strict=False):
            assert before is None or after == before

    assert len(started) == len(set(started)), "someone got two turns"
    assert step.state.turn_number == len(started)
