"""Who is in the room: entering, leaving, and confirming an absence after the grace
period. Attendance rows in the database are the truth; sockets only report to them."""

import datetime as dt

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from facilitation import services as facilitation
from groups.models import Attendance, MeetingStatus, Membership, Role
from room import broadcast
from room.access import access_meeting
from room.context import Seat, system_acting
from room.errors import AccessDenied, CloseCode

from . import protocol


def room_enter(*, user, meeting_id: str, now: dt.datetime | None = None) -> Seat:
    """Check the person may enter, count the connection, and announce him unless he is
    coming back within the grace period (so a flaky connection doesn't flap)."""
    membership, meeting = access_meeting(user=user, meeting_id=meeting_id)
    now = now or timezone.now()
    with system_acting(meeting_pk=meeting.pk, actor=membership, now=now) as room:
        if room.meeting.status == MeetingStatus.ENDED:
            raise AccessDenied(CloseCode.ENDED, "This meeting has ended.")
        was_away, announce = _count_connection(room.meeting, membership, now)
        if was_away:
            facilitation.round_member_arrived(room)
        if announce:
            room.log.private(
                broadcast.meeting_group(room.meeting.pk), protocol.presence_joined(membership)
            )
    return Seat(
        meeting_pk=room.meeting.pk,
        membership_id=membership.pk,
        user_id=user.pk,
        is_facilitator=membership.role == Role.FACILITATOR,
    )


def _count_connection(meeting, membership: Membership, now: dt.datetime) -> tuple[bool, bool]:
    """(he was away, the room should hear he came): not when he is back within the
    grace period."""
    attendance, created = Attendance.objects.select_for_update().get_or_create(
        meeting=meeting, membership=membership, defaults={"joined_at": now}
    )
    was_away = attendance.connections == 0
    announce = was_away and (
        created
        or attendance.left_at is None
        or (now - attendance.left_at).total_seconds() >= settings.HEARTH_PRESENCE_GRACE_SECONDS
    )
    attendance.connections += 1
    attendance.left_at = None
    attendance.save(update_fields=["connections", "left_at"])
    return was_away, announce


def room_leave(*, seat: Seat, now: dt.datetime | None = None) -> dt.datetime | None:
    """One connection closed. Returns the time the person became absent (no
    connections left), to confirm after the grace period, or None."""
    now = now or timezone.now()
    with transaction.atomic():
        attendance = (
            Attendance.objects.select_for_update()
            .filter(meeting_id=seat.meeting_pk, membership_id=seat.membership_id)
            .first()
        )
        if attendance is None or attendance.connections == 0:
            return None
        attendance.connections -= 1
        if attendance.connections == 0:
            attendance.left_at = now
        attendance.save(update_fields=["connections", "left_at"])
        return attendance.left_at if attendance.connections == 0 else None


def room_absence_confirm(*, seat: Seat, left_at: dt.datetime) -> bool:
    """After the grace period: if he is still away, tell the room, and if it was his
    turn, move the round on (skipped). He keeps his place if he comes back before
    his turn."""
    membership = Membership.objects.get(pk=seat.membership_id)
    with system_acting(meeting_pk=seat.meeting_pk, actor=membership, now=timezone.now()) as room:
        attendance = Attendance.objects.filter(
            meeting_id=seat.meeting_pk, membership_id=seat.membership_id
        ).first()
        if attendance is None or attendance.connections > 0 or attendance.left_at != left_at:
            return False
        if room.meeting.status == MeetingStatus.LIVE:
            facilitation.round_member_departed(room)
        room.log.private(
            broadcast.meeting_group(room.meeting.pk), protocol.presence_left(membership)
        )
        return True
