"""The one dispatch table: for every client command, the action that does it, who may
send it, and the budget of how often.

`perform` is how everything calls an action (consumers, management commands, tests):
permission is checked here, against the database, for every command.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from facilitation import services as facilitation
from room.context import Accepted, Seat, acting
from room.errors import ErrorCode, RoomError

from . import protocol as p
from . import services


class Who(StrEnum):
    MEMBER = "member"  # anyone in the room (facilitators too)
    FACILITATOR = "facilitator"


@dataclass(frozen=True)
class Budget:
    """At most `count` commands of a kind per `seconds`, per person and meeting."""

    count: int
    seconds: float


@dataclass(frozen=True)
class Route:
    action: Callable[..., Any] | None
    who: Who
    budget: Budget
    locked: bool = True  # runs inside room.context.acting; False: owns its transaction


M, F = Who.MEMBER, Who.FACILITATOR
PER_MINUTE = 60.0

ROUTES: dict[type[p.Command], Route] = {
    # Answered by the consumer from the log; its batches are not actions.
    p.Resync: Route(None, M, Budget(30, PER_MINUTE)),
    # The database keeps chat's own rule (5 per 10 s, across every socket); this one
    # only refuses a flood before it reaches the database.
    p.ChatSend: Route(services.chat_send, M, Budget(20, 10), locked=False),
    p.HandRaise: Route(facilitation.hand_raise, M, Budget(10, PER_MINUTE)),
    p.HandLower: Route(facilitation.hand_lower, M, Budget(10, PER_MINUTE)),
    p.TurnDone: Route(facilitation.turn_done, M, Budget(10, PER_MINUTE)),
    p.TurnPass: Route(facilitation.turn_pass, M, Budget(10, PER_MINUTE)),
    p.ReactionSend: Route(services.reaction_send, M, Budget(30, PER_MINUTE)),
    p.MessageReport: Route(services.message_report, M, Budget(5, PER_MINUTE)),
    p.FeelingsShare: Route(facilitation.feelings_share, M, Budget(10, PER_MINUTE)),
    p.MeetingOpen: Route(services.meeting_open, F, Budget(10, PER_MINUTE)),
    p.MeetingEnd: Route(services.meeting_end, F, Budget(10, PER_MINUTE)),
    p.PhaseSet: Route(facilitation.phase_set, F, Budget(30, PER_MINUTE)),
    p.RoundStart: Route(facilitation.round_start, F, Budget(20, PER_MINUTE)),
    p.RoundNext: Route(facilitation.round_next, F, Budget(60, PER_MINUTE)),
    p.RoundSkip: Route(facilitation.round_skip, F, Budget(60, PER_MINUTE)),
    p.RoundEnd: Route(facilitation.round_end, F, Budget(20, PER_MINUTE)),
    p.FloorGrant: Route(facilitation.floor_grant, F, Budget(30, PER_MINUTE)),
    p.FloorRelease: Route(facilitation.floor_release, F, Budget(30, PER_MINUTE)),
    p.QueueMove: Route(facilitation.queue_move, F, Budget(60, PER_MINUTE)),
    p.QueueRemove: Route(facilitation.queue_remove, F, Budget(30, PER_MINUTE)),
    p.QueueMode: Route(facilitation.queue_mode, F, Budget(20, PER_MINUTE)),
    p.PromptPush: Route(facilitation.prompt_push, F, Budget(20, PER_MINUTE)),
    p.MemberMute: Route(services.member_mute, F, Budget(20, PER_MINUTE)),
    p.MemberUnmute: Route(services.member_unmute, F, Budget(20, PER_MINUTE)),
    p.MemberRemove: Route(services.member_remove, F, Budget(20, PER_MINUTE)),
    p.MessageDelete: Route(services.message_delete, F, Budget(30, PER_MINUTE)),
    p.ReportResolve: Route(services.report_resolve, F, Budget(60, PER_MINUTE)),
}


def perform(*, seat: Seat, command: p.Command, now: dt.datetime) -> Accepted:
    """Do one command for one seat: the route's guard, then its action."""
    route = ROUTES[type(command)]
    if route.action is None:
        raise RoomError(ErrorCode.INVALID, "That frame isn't an action.")
    if not route.locked:
        return route.action(seat=seat, now=now, **command.arguments())
    with acting(seat=seat, now=now, facilitator_only=route.who is Who.FACILITATOR) as room:
        route.action(room, **command.arguments())
    return Accepted(room.log.last_seq)


# Budgets ---------------------------------------------------------------------------------


class Budgets:
    """Token buckets per (meeting, person, command type), in this process.

    A refusal costs no database work, which is the point: a flood is turned away at the
    door. A person's sockets in one process share his buckets; with at most
    MAX_SOCKETS_PER_PERSON sockets, his ceiling across processes is that many times the
    budget. Buckets that are full again are forgotten (`sweep`).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[int, int, type[p.Command]], tuple[float, float]] = {}

    def take(self, seat: Seat, command: p.Command) -> bool:
        budget = ROUTES[type(command)].budget
        key = (seat.meeting_pk, seat.membership_id, type(command))
        now = self._clock()
        tokens, then = self._buckets.get(key, (float(budget.count), now))
        tokens = min(budget.count, tokens + (now - then) * budget.count / budget.seconds)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > 50_000:
            self.sweep()
        return True

    def clear(self) -> None:
        self._buckets.clear()

    def sweep(self) -> None:
        now = self._clock()
        for key, (tokens, then) in list(self._buckets.items()):
            budget = ROUTES[key[2]].budget
            if tokens + (now - then) * budget.count / budget.seconds >= budget.count:
                del self._buckets[key]


budgets = Budgets()


def over_budget_error() -> RoomError:
    return RoomError(
        ErrorCode.RATE_LIMITED, "That's a lot at once. Please wait a moment and try again."
    )


def busy_error() -> RoomError:
    """Past what the database keeps up with, a command is refused at once rather than
    queued for seconds: nothing was done, and the client may send it again."""
    return RoomError(
        ErrorCode.BUSY, "The circle is very busy for a moment. Please try again in a few seconds."
    )
