"""One action on one meeting: who is acting (the seat), the locked meeting, the named
guards, and `acting`, the transaction every locked action runs in."""

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

from django.db import transaction

from groups.models import Meeting, MeetingStatus, Membership, MembershipStatus, Role

from .errors import CloseCode, ErrorCode, RoomError
from .log import EventLog, lock_meeting


@dataclass(frozen=True)
class Seat:
    """Who a connection belongs to, fixed at connect. Rights are re-read per action."""

    meeting_pk: int
    membership_id: int
    user_id: int
    is_facilitator: bool
    connection_id: int | None = None  # its room.models.Connection row, while open


@dataclass
class Room:
    """What an action works with: the locked meeting, the actor (freshly read and
    checked), the event log to append to, and the time."""

    meeting: Meeting
    actor: Membership
    log: EventLog
    now: dt.datetime


@dataclass(frozen=True)
class Accepted:
    """An action was done; `seq` is the newest event it appended (None: it appended
    none, or only private frames)."""

    seq: int | None


# The named guards --------------------------------------------------------------------


def acting_member(meeting: Meeting, actor: Membership | None) -> Membership:
    """May act: the actor as the database has him now is an active member of this
    meeting's circle who accepted its agreements, and the meeting has not ended.
    Each refusal closes the socket: nothing he sends next could be accepted."""
    if actor is None or actor.circle_id != meeting.circle_id:
        raise RoomError(
            ErrorCode.FORBIDDEN, "You're not in this circle.", close_code=CloseCode.NOT_ALLOWED
        )
    actor.circle = meeting.circle
    if actor.status != MembershipStatus.ACTIVE:
        raise RoomError(
            ErrorCode.FORBIDDEN,
            "You're no longer part of this circle.",
            close_code=CloseCode.NOT_ALLOWED,
        )
    if actor.role != Role.FACILITATOR and not actor.has_accepted_agreements:
        raise RoomError(
            ErrorCode.FORBIDDEN,
            "Please accept the circle's agreements first.",
            close_code=CloseCode.NOT_ALLOWED,
        )
    if meeting.status == MeetingStatus.ENDED:
        raise RoomError(ErrorCode.NOT_LIVE, "This meeting has ended.", close_code=CloseCode.ENDED)
    return actor


def require_facilitator(actor: Membership) -> None:
    if actor.role != Role.FACILITATOR:
        raise RoomError(ErrorCode.FORBIDDEN, "Only a facilitator can do that.")


def require_not_muted(actor: Membership, now: dt.datetime) -> None:
    if actor.muted_until and actor.muted_until > now:
        raise RoomError(
            ErrorCode.MUTED, "A facilitator has paused your messages for a few minutes."
        )


def require_live(meeting: Meeting, actor: Membership) -> None:
    """The meeting is open. Said to a facilitator as what to do, to a member as what
    is happening."""
    if meeting.status != MeetingStatus.LIVE:
        raise RoomError(
            ErrorCode.NOT_LIVE,
            "Open the circle first."
            if actor.role == Role.FACILITATOR
            else "The circle hasn't opened yet. A facilitator will open it soon.",
        )


def read_actor(seat: Seat) -> Membership | None:
    return Membership.objects.filter(pk=seat.membership_id, user_id=seat.user_id).first()


# The transaction -----------------------------------------------------------------------


# Rooms open in this context, by meeting: an action that reaches another action on the
# same meeting (member.remove, through groups.signals) appends to the same log, so seqs
# stay in order and the ack names the last event.
_open_rooms: ContextVar[dict[int, Room] | None] = ContextVar("hearth_open_rooms", default=None)


@contextmanager
def acting(*, seat: Seat, now: dt.datetime, facilitator_only: bool = False) -> Iterator[Room]:
    """Lock the meeting, re-read and check the actor, hand over the Room; on a clean
    exit publish its events after commit. A RoomError inside rolls everything back."""
    with transaction.atomic():
        meeting = lock_meeting(seat.meeting_pk)
        actor = acting_member(meeting, read_actor(seat))
        if facilitator_only:
            require_facilitator(actor)
        room = Room(meeting=meeting, actor=actor, log=EventLog(meeting, now), now=now)
        with _opened(room):
            yield room
        room.log.publish()


@contextmanager
def system_acting(*, meeting_pk: int, actor: Membership, now: dt.datetime) -> Iterator[Room]:
    """The same for changes the server makes on someone's behalf (he arrived, he left,
    a page removed him): no guard, the caller has decided. Inside an action on the
    same meeting, it shares that action's log."""
    outer = (_open_rooms.get() or {}).get(meeting_pk)
    if outer is not None:
        yield replace(outer, actor=actor)
        return
    with transaction.atomic():
        meeting = lock_meeting(meeting_pk)
        room = Room(meeting=meeting, actor=actor, log=EventLog(meeting, now), now=now)
        with _opened(room):
            yield room
        room.log.publish()


@contextmanager
def _opened(room: Room) -> Iterator[None]:
    rooms = dict(_open_rooms.get() or {})
    rooms[room.meeting.pk] = room
    token = _open_rooms.set(rooms)
    try:
        yield
    finally:
        _open_rooms.reset(token)
