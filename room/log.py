"""The meeting's event log: locking the meeting, numbering events, publishing them.

Precondition for everything here: the caller holds the meeting row lock
(`lock_meeting`) inside a transaction. seq is the newest seq + 1, so two writers can
never take the same number, and a rolled-back change leaves no gap.
"""

import datetime as dt
from functools import cache
from typing import Any

from django.db.models import OuterRef, Subquery

from groups.models import Circle, Meeting, Membership

from . import broadcast, rows
from .models import MeetingEvent


def newest_seq_subquery(meeting: Any = None) -> Subquery:
    """The newest seq of `meeting` (a pk; by default the outer query's row)."""
    meeting = OuterRef("pk") if meeting is None else meeting
    return Subquery(MeetingEvent.objects.filter(meeting=meeting).order_by("-seq").values("seq")[:1])


@cache
def _lock_sql(for_update: str) -> str:
    return (
        f"SELECT {rows.columns(Meeting, 'm')}, {rows.columns(Circle, 'c')}"  # noqa: S608
        f' FROM "{Meeting._meta.db_table}" m JOIN "{Circle._meta.db_table}" c'
        f" ON c.id = m.circle_id WHERE m.id = %s {for_update}"
    )


@cache
def _newest_seq_sql() -> str:
    return (
        f'SELECT seq FROM "{MeetingEvent._meta.db_table}" WHERE meeting_id = %s'  # noqa: S608
        " ORDER BY seq DESC LIMIT 1"
    )


def lock_meeting_row(meeting_pk: int) -> Meeting:
    """Only the lock (and the row, with its circle). Whatever else the caller needs,
    above all the newest seq, it must read in a LATER statement: see lock_meeting.
    Written by hand: every action runs it (room.rows)."""
    row = rows.fetch_one(_lock_sql(rows.for_update(of="m")), [meeting_pk])
    if row is None:
        raise Meeting.DoesNotExist(f"No meeting {meeting_pk}.")
    meeting = rows.instance(Meeting, row)
    meeting.circle = rows.instance(Circle, row, rows.width(Meeting))
    return meeting


def newest_seq(meeting_pk: int) -> int:
    """The newest seq of a meeting's log, 0 when it is empty."""
    row = rows.fetch_one(_newest_seq_sql(), [meeting_pk])
    return row[0] if row else 0


def lock_meeting(meeting_pk: int) -> Meeting:
    """The meeting row, locked, with `newest_seq` (0 when the log is empty), read once
    the lock is held.

    Two statements on purpose. In READ COMMITTED, a SELECT ... FOR UPDATE that waited for
    the lock returns the newest version of the locked row, but reads every other table
    as of the moment the statement started: a newest-seq subquery inside the locking
    statement misses the event the previous lock holder just committed, and two writers
    take the same seq (tests/realtime/test_seq.py, concurrent writers).
    """
    meeting = lock_meeting_row(meeting_pk)
    meeting.newest_seq = newest_seq(meeting_pk)
    return meeting


def serialize(event: MeetingEvent) -> dict[str, Any]:
    return {
        "type": event.type,
        "seq": event.seq,
        "at": event.created_at.isoformat(),
        **event.payload,
    }


class EventLog:
    """Collects the events one change makes, numbers them, and publishes them together
    after commit, in order."""

    def __init__(self, meeting: Meeting, now: dt.datetime) -> None:
        self.meeting = meeting
        self.now = now
        self.events: list[MeetingEvent] = []
        self._notices: list[dict[str, Any]] = []
        self._private: list[tuple[str, dict[str, Any]]] = []
        self._closes: list[tuple[str | None, int]] = []

    @property
    def last_seq(self) -> int | None:
        return self.events[-1].seq if self.events else None

    def append(
        self,
        type: str,
        payload: dict[str, Any],
        *,
        actor: Membership | None = None,
        client_id: str | None = None,
    ) -> MeetingEvent:
        self.meeting.newest_seq += 1
        event = MeetingEvent(
            meeting=self.meeting,
            seq=self.meeting.newest_seq,
            type=type,
            payload=payload,
            actor=actor,
            client_id=client_id,
            created_at=self.now,
        )
        rows.insert(event)  # every action appends: written by hand (room.rows)
        self.events.append(event)
        return event

    def notice(self, frame: dict[str, Any]) -> None:
        """A frame for everyone in the meeting that is not part of the log (no seq:
        presence comes and goes)."""
        self._notices.append(frame)

    def private(self, audience: str, frame: dict[str, Any]) -> None:
        """A frame for some people in the meeting only: broadcast.FACILITATORS, or one
        person (broadcast.member)."""
        self._private.append((audience, frame))

    def close(self, audience: str | None, code: int) -> None:
        """Close the audience's sockets (None: everyone's) once the rest is delivered."""
        self._closes.append((audience, code))

    def publish(self) -> None:
        """Call once, inside the transaction; sending happens on commit, in order."""
        frames = [*map(serialize, self.events), *self._notices]
        if not (frames or self._private or self._closes):
            return
        message: dict[str, Any] = {"frames": [broadcast.dumps(frame) for frame in frames]}
        if self._private:
            message["private"] = [[who, [broadcast.dumps(f)]] for who, f in self._private]
        if self._closes:
            message["close"] = [[who, code] for who, code in self._closes]
        broadcast.to_meeting_on_commit(room_key(self.meeting), message)


def room_key(meeting: Meeting) -> str:
    """What names a meeting's broadcasts (room.fanout): its public id, which a socket
    knows from its address before anything is read."""
    return str(meeting.public_id)
