"""The meeting's event log: locking the meeting, numbering events, publishing them.

Precondition for everything here: the caller holds the meeting row lock
(`lock_meeting`) inside a transaction. seq is the newest seq + 1, so two writers can
never take the same number, and a rolled-back change leaves no gap.
"""

import datetime as dt
from typing import Any

from django.db.models import OuterRef, Subquery

from groups.models import Meeting, Membership

from . import broadcast
from .models import MeetingEvent


def newest_seq_subquery(meeting: Any = None) -> Subquery:
    """The newest seq of `meeting` (a pk; by default the outer query's row)."""
    meeting = OuterRef("pk") if meeting is None else meeting
    return Subquery(MeetingEvent.objects.filter(meeting=meeting).order_by("-seq").values("seq")[:1])


def lock_meeting_row(meeting_pk: int) -> Meeting:
    """Only the lock (and the row). Whatever else the caller needs, above all the newest
    seq, it must read in a LATER statement: see lock_meeting."""
    return (
        Meeting.objects.select_for_update(of=("self",)).select_related("circle").get(pk=meeting_pk)
    )


def lock_meeting(meeting_pk: int, **annotations: Any) -> Meeting:
    """The meeting row, locked, with `newest_seq` (0 when the log is empty) and any
    extra `annotations`, read once the lock is held.

    Two statements on purpose. In READ COMMITTED, a SELECT ... FOR UPDATE that waited for
    the lock returns the newest version of the locked row, but reads every other table
    as of the moment the statement started: a newest-seq subquery inside the locking
    statement misses the event the previous lock holder just committed, and two writers
    take the same seq (tests/realtime/test_seq.py, concurrent writers).
    """
    meeting = lock_meeting_row(meeting_pk)
    fresh = (
        Meeting.objects.filter(pk=meeting_pk)
        .values(newest_seq=newest_seq_subquery(), **annotations)
        .get()
    )
    for name, value in fresh.items():
        setattr(meeting, name, value)
    meeting.newest_seq = meeting.newest_seq or 0
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
        event = MeetingEvent.objects.create(
            meeting=self.meeting,
            seq=self.meeting.newest_seq,
            type=type,
            payload=payload,
            actor=actor,
            client_id=client_id,
            created_at=self.now,
        )
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
