"""Who is in the room: entering, leaving, and letting people go.

A person is present in a meeting while he has a Connection row: one per open socket,
held by the server process that holds the socket (room.models). Sockets report to the
rows; the rows are the truth. A process that dies leaves rows whose lease runs out,
and another process sweeps them (realtime.lease).
"""

import datetime as dt
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from facilitation import services as facilitation
from groups.models import Attendance, MeetingStatus, Membership, Role
from room import broadcast, rows
from room.access import access_meeting
from room.context import Room, Seat, system_acting
from room.errors import AccessDenied, CloseCode
from room.models import Connection, ServerProcess

from . import protocol

MAX_SOCKETS_PER_PERSON = 3
"""A phone, a laptop and one spare tab. Opening a fourth closes his oldest (4409)."""


@dataclass(frozen=True)
class Departure:
    """Someone with no socket left in a meeting since `left_at`."""

    meeting_pk: int
    membership_id: int
    left_at: dt.datetime


def room_enter(
    *,
    user,
    meeting_id: str,
    process_id: str,
    session_key: str | None = None,
    now: dt.datetime | None = None,
) -> Seat:
    """Check the person may enter, record his socket, and announce him unless he is
    coming back within the grace period (so a flaky connection doesn't flap)."""
    membership, meeting = access_meeting(user=user, meeting_id=meeting_id)
    now = now or timezone.now()
    with system_acting(meeting_pk=meeting.pk, actor=membership, now=now) as room:
        if room.meeting.status == MeetingStatus.ENDED:
            raise AccessDenied(CloseCode.ENDED, "This meeting has ended.")
        attendance, created = _attendance(room, membership)
        kept = _close_the_oldest_beyond_the_cap(room, membership)
        connection = rows.insert(
            Connection(
                meeting=room.meeting,
                membership=membership,
                process_id=process_id,
                session_hash=broadcast.session_hash(session_key) if session_key else "",
                opened_at=now,
            )
        )
        if not kept:
            _arrived(room, attendance, created=created)
    return Seat(
        meeting_pk=meeting.pk,
        membership_id=membership.pk,
        user_id=user.pk,
        is_facilitator=membership.role == Role.FACILITATOR,
        connection_id=connection.pk,
    )


# The statements of a connect, by hand (room.rows): a thousand people connect at once.


def _attendance(room: Room, membership: Membership) -> tuple[Attendance, bool]:
    """His attendance of the meeting, locked; created (True) on his first connect. No
    race on creating it: the meeting row is locked."""
    row = rows.fetch_one(_attendance_sql(rows.for_update()), [room.meeting.pk, membership.pk])
    if row is not None:
        return rows.instance(Attendance, row), False
    attendance = Attendance(meeting=room.meeting, membership=membership, joined_at=room.now)
    return rows.insert(attendance), True


@cache
def _attendance_sql(for_update: str) -> str:
    return (
        f'SELECT {rows.columns(Attendance, "a")} FROM "{Attendance._meta.db_table}" a'  # noqa: S608
        f" WHERE a.meeting_id = %s AND a.membership_id = %s {for_update}"
    )


def _close_the_oldest_beyond_the_cap(room: Room, membership: Membership) -> int:
    """How many of his sockets stay open; the oldest beyond the cap close (4409)."""
    table = Connection._meta.db_table
    open_now = rows.fetch_all(
        f'SELECT id FROM "{table}" WHERE meeting_id = %s AND membership_id = %s'  # noqa: S608
        " ORDER BY opened_at, id",
        [room.meeting.pk, membership.pk],
    )
    excess = max(len(open_now) - (MAX_SOCKETS_PER_PERSON - 1), 0)
    for (oldest,) in open_now[:excess]:
        room.log.close(broadcast.connection(oldest), CloseCode.REPLACED)
        rows.execute(f'DELETE FROM "{table}" WHERE id = %s', [oldest])  # noqa: S608
    return len(open_now) - excess


def _set_left_at(attendance_pk: int, left_at: dt.datetime | None) -> None:
    rows.execute(
        f'UPDATE "{Attendance._meta.db_table}" SET left_at = %s WHERE id = %s',  # noqa: S608
        [rows.param(Attendance, "left_at", left_at), attendance_pk],
    )


def _arrived(room: Room, attendance: Attendance, *, created: bool) -> None:
    """He had no socket open: his round place, and the room hears of him unless he is
    back within the grace period."""
    left_at = attendance.left_at
    announce = (
        created
        or left_at is None
        or (room.now - left_at).total_seconds() >= settings.HEARTH_PRESENCE_GRACE_SECONDS
    )
    attendance.left_at = None
    _set_left_at(attendance.pk, None)
    facilitation.round_member_arrived(room)
    if announce:
        room.log.private(broadcast.all_but(room.actor.pk), protocol.presence_joined(room.actor))


def room_leave(*, seat: Seat, now: dt.datetime | None = None) -> Departure | None:
    """One socket closed. When it was his last in the meeting, the departure to
    confirm after the grace period."""
    now = now or timezone.now()
    with transaction.atomic():
        row = rows.fetch_one(
            _attendance_sql(rows.for_update()), [seat.meeting_pk, seat.membership_id]
        )
        if seat.connection_id is not None:
            rows.execute(
                f'DELETE FROM "{Connection._meta.db_table}" WHERE id = %s',  # noqa: S608
                [seat.connection_id],
            )
        if row is None or _still_here(seat.meeting_pk, seat.membership_id):
            return None
        attendance = rows.instance(Attendance, row)
        left_at = attendance.left_at
        if left_at is None:
            left_at = now
            _set_left_at(attendance.pk, now)
        return Departure(seat.meeting_pk, seat.membership_id, left_at)


def _still_here(meeting_pk: int, membership_id: int) -> bool:
    table = Connection._meta.db_table
    return bool(
        rows.fetch_one(
            f'SELECT 1 FROM "{table}" WHERE meeting_id = %s AND membership_id = %s LIMIT 1',  # noqa: S608
            [meeting_pk, membership_id],
        )
    )


def room_absence_confirm(*, departure: Departure) -> bool:
    """After the grace period: if he is still away, tell the room, and if it was his
    turn, move the round on (skipped). He keeps his place if he comes back before
    his turn."""
    if not _still_away(departure):  # he is back: no need to lock the meeting
        return False
    membership = rows.get(Membership, departure.membership_id)
    with system_acting(
        meeting_pk=departure.meeting_pk, actor=membership, now=timezone.now()
    ) as room:
        if not _still_away(departure):
            return False
        if room.meeting.status == MeetingStatus.LIVE:
            facilitation.round_member_departed(room)
        room.log.notice(protocol.presence_left(membership))
        return True


def _still_away(departure: Departure) -> bool:
    row = rows.fetch_one(_attendance_sql(""), [departure.meeting_pk, departure.membership_id])
    if row is None or rows.instance(Attendance, row).left_at != departure.left_at:
        return False
    return not _still_here(departure.meeting_pk, departure.membership_id)


# Leases ----------------------------------------------------------------------------------


def lease_renew(*, process_id: str, seconds: float) -> bool:
    """Renew this process's lease; False when it had lapsed and been swept (its sockets
    no longer count: the caller closes them so they reconnect)."""
    now = timezone.now()
    until = now + dt.timedelta(seconds=seconds)
    if ServerProcess.objects.filter(pk=process_id).update(lease_until=until):
        return True
    ServerProcess.objects.create(id=process_id, started_at=now, lease_until=until)
    return False


def sweep_lapsed(*, own: str | None = None) -> list[Departure]:
    """Let go of the connections of processes whose lease ran out. One sweeper takes
    each dead process (SKIP LOCKED); its people leave now, unless they reconnected
    elsewhere: they have been gone for a lease already, longer than the grace. A
    process never sweeps its `own` lease: it is alive, and renews it."""
    now = timezone.now()
    with transaction.atomic():
        lapsed = list(
            ServerProcess.objects.select_for_update(skip_locked=True)
            .filter(lease_until__lt=now)
            .exclude(pk=own)
            .values_list("pk", flat=True)
        )
        if not lapsed:
            return []
        seats = set(
            Connection.objects.filter(process_id__in=lapsed).values_list(
                "meeting_id", "membership_id"
            )
        )
        ServerProcess.objects.filter(pk__in=lapsed).delete()  # and their connections
        departures = []
        for meeting_pk, membership_id in sorted(seats):
            if _still_here(meeting_pk, membership_id):
                continue
            Attendance.objects.filter(
                meeting_id=meeting_pk, membership_id=membership_id, left_at__isnull=True
            ).update(left_at=now)
            left_at = (
                Attendance.objects.filter(meeting_id=meeting_pk, membership_id=membership_id)
                .values_list("left_at", flat=True)
                .first()
            )
            if left_at is not None:
                departures.append(Departure(meeting_pk, membership_id, left_at))
        return departures
