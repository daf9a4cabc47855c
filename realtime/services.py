"""The live room's actions: entering and leaving, chat, and moderation frames.

Every function here runs in one transaction that starts by locking the meeting row
(events.lock_meeting), re-reads the actor's membership from the database, applies the
change, appends its events and publishes them after commit. Consumers call these
through database_sync_to_async and never touch the ORM themselves.
"""

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, IntegerField, Subquery, Value
from django.utils import timezone

from facilitation import services as facilitation
from facilitation.models import Round, Turn
from facilitation.queue import QueueState, may_chat
from groups import services as group_services
from groups.access import AccessDenied, access_meeting
from groups.models import Attendance, Meeting, MeetingStatus, Membership, MembershipStatus, Role
from groups.regions import help_lines_for

from . import broadcast
from .crisis import crisis_category
from .events import (
    EventLog,
    author_of,
    lock_meeting,
    lock_meeting_row,
    newest_seq_subquery,
    serialize,
)
from .models import CrisisAlert, MeetingEvent, MessageReport
from .protocol import CloseCode, ErrorCode, Frame, FrameError

logger = logging.getLogger(__name__)

CHAT_RATE_COUNT = 5
OPEN_REPORTS_PER_MEMBER = 3
CHAT_RATE_SECONDS = 10


@dataclass(frozen=True)
class Seat:
    """Who a connection belongs to, fixed at connect. Rights are re-read per frame."""

    meeting_pk: int
    membership_id: int
    user_id: int
    is_facilitator: bool


@dataclass
class Room:
    """What a frame handler works with: the locked meeting, the actor (freshly read),
    the event log to append to, and the time."""

    meeting: Meeting
    actor: Membership
    log: EventLog
    now: dt.datetime


# Entering and leaving ------------------------------------------------------------------


def room_enter(*, user, meeting_id: str, now: dt.datetime | None = None) -> Seat:
    """Check the person may enter, count the connection, and announce him unless he is
    coming back within the grace period (so a flaky connection doesn't flap)."""
    membership = access_meeting(user=user, meeting_id=meeting_id)
    now = now or timezone.now()
    with transaction.atomic():
        meeting = lock_meeting(membership.meeting.pk)
        if meeting.status == MeetingStatus.ENDED:
            raise AccessDenied(CloseCode.ENDED, "This meeting has ended.")
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
        log = EventLog(meeting, now)
        if was_away:
            facilitation.round_member_arrived(
                Room(meeting=meeting, actor=membership, log=log, now=now)
            )
        if announce:
            log.private(
                broadcast.meeting_group(meeting.pk),
                {
                    "type": "presence.joined",
                    "membership_id": membership.pk,
                    "alias": membership.alias,
                    "role": membership.role,
                },
            )
        log.publish()
    return Seat(
        meeting_pk=meeting.pk,
        membership_id=membership.pk,
        user_id=user.pk,
        is_facilitator=membership.role == Role.FACILITATOR,
    )


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
    now = timezone.now()
    with transaction.atomic():
        meeting = lock_meeting(seat.meeting_pk)
        attendance = Attendance.objects.filter(
            meeting_id=seat.meeting_pk, membership_id=seat.membership_id
        ).first()
        if attendance is None or attendance.connections > 0 or attendance.left_at != left_at:
            return False
        membership = Membership.objects.get(pk=seat.membership_id)
        log = EventLog(meeting, now)
        if meeting.status == MeetingStatus.LIVE:
            facilitation.round_member_departed(
                Room(meeting=meeting, actor=membership, log=log, now=now)
            )
        log.private(
            broadcast.meeting_group(meeting.pk),
            {"type": "presence.left", "membership_id": membership.pk, "alias": membership.alias},
        )
        log.publish()
        return True


# Per-frame access ----------------------------------------------------------------------


def is_current_facilitator(*, seat: Seat) -> bool:
    return Membership.objects.filter(
        pk=seat.membership_id, status=MembershipStatus.ACTIVE, role=Role.FACILITATOR
    ).exists()


def _actor_for(meeting: Meeting, seat: Seat) -> Membership:
    """Re-read the actor for this frame: removed, left, or agreements changed since
    connecting all refuse the frame and close the socket."""
    actor = Membership.objects.filter(pk=seat.membership_id, user_id=seat.user_id).first()
    return _check_actor(meeting, actor)


def _check_actor(meeting: Meeting, actor: Membership | None) -> Membership:
    if actor is None or actor.circle_id != meeting.circle_id:
        raise FrameError(ErrorCode.FORBIDDEN, "You're not in this circle.", close_code=4403)
    actor.circle = meeting.circle
    if actor.status != MembershipStatus.ACTIVE:
        raise FrameError(
            ErrorCode.FORBIDDEN, "You're no longer part of this circle.", close_code=4403
        )
    if actor.role != Role.FACILITATOR and not actor.has_accepted_agreements:
        raise FrameError(
            ErrorCode.FORBIDDEN, "Please accept the circle's agreements first.", close_code=4403
        )
    if meeting.status == MeetingStatus.ENDED:
        raise FrameError(ErrorCode.NOT_LIVE, "This meeting has ended.", close_code=4410)
    return actor


def _require_live(meeting: Meeting) -> None:
    if meeting.status != MeetingStatus.LIVE:
        raise FrameError(
            ErrorCode.NOT_LIVE, "The circle hasn't opened yet. A facilitator will open it soon."
        )


# Chat: the hot path ---------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    seq: int | None


def chat_send(*, seat: Seat, body: str, client_id: str | None, now: dt.datetime) -> Accepted:
    """Three queries: lock the meeting row; then, once the lock is held (so it sees
    what the previous holder committed), the actor's membership with everything the
    rules need (newest seq, an earlier send with this client_id, the rate window, the
    round's speaker); and the insert."""
    events = MeetingEvent.objects.filter(meeting_id=seat.meeting_pk, actor_id=seat.membership_id)
    duplicate = (
        Subquery(events.filter(client_id=client_id).values("seq")[:1])
        if client_id
        else Value(None, output_field=IntegerField())
    )
    try:
        with transaction.atomic():
            meeting = lock_meeting_row(seat.meeting_pk)
            actor = (
                Membership.objects.filter(pk=seat.membership_id, user_id=seat.user_id)
                .annotate(
                    newest_seq=newest_seq_subquery(seat.meeting_pk),
                    duplicate_seq=duplicate,
                    rate_window_start=Subquery(
                        events.filter(type="chat.message")
                        .order_by("-seq")
                        .values("created_at")[CHAT_RATE_COUNT - 1 : CHAT_RATE_COUNT]
                    ),
                    round_active=Exists(
                        Round.objects.filter(meeting_id=seat.meeting_pk, ended_at__isnull=True)
                    ),
                    round_speaker=Subquery(
                        Turn.objects.filter(
                            round__meeting_id=seat.meeting_pk, ended_at__isnull=True
                        ).values("membership_id")[:1]
                    ),
                )
                .first()
            )
            actor = _check_actor(meeting, actor)
            meeting.newest_seq = actor.newest_seq or 0
            if actor.duplicate_seq:
                return Accepted(actor.duplicate_seq)
            _require_live(meeting)
            if actor.muted_until and actor.muted_until > now:
                raise FrameError(
                    ErrorCode.MUTED,
                    "A facilitator has paused your messages for a few minutes.",
                )
            window = actor.rate_window_start
            if window and (now - window).total_seconds() < CHAT_RATE_SECONDS:
                raise FrameError(
                    ErrorCode.RATE_LIMITED, "That's a lot of messages at once. Take a breath."
                )
            refusal = may_chat(
                is_facilitator=actor.role == Role.FACILITATOR,
                membership_id=actor.pk,
                queue=QueueState(
                    floor=meeting.floor_holder_id, talking_piece=meeting.talking_piece
                ),
                round_speaker=actor.round_speaker,
                round_active=actor.round_active,
            )
            if refusal:
                raise FrameError(
                    refusal,
                    "It's someone else's turn to speak. You can still react to show you heard."
                    if actor.round_active
                    else "The talking piece is with someone else. Raise your hand to ask for it.",
                )
            log = EventLog(meeting, now)
            event = log.append(
                "chat.message",
                {"author": author_of(actor), "body": body, "client_id": client_id},
                actor=actor,
                client_id=client_id,
            )
            category = crisis_category(body)
            if category:
                _crisis_alert(log, actor=actor, seq=event.seq, category=category)
            log.publish()
            return Accepted(event.seq)
    except IntegrityError:
        # A concurrent retry with the same client_id won the race: answer with its seq.
        if client_id:
            seq = (
                MeetingEvent.objects.filter(
                    meeting_id=seat.meeting_pk, actor_id=seat.membership_id, client_id=client_id
                )
                .values_list("seq", flat=True)
                .first()
            )
            if seq:
                return Accepted(seq)
        raise


def _crisis_alert(log: EventLog, *, actor: Membership, seq: int, category: str) -> None:
    meeting = log.meeting
    CrisisAlert.objects.create(
        meeting=meeting, target_seq=seq, membership=actor, category=category, created_at=log.now
    )
    log.private(
        broadcast.facilitators_group(meeting.pk),
        {
            "type": "alert.crisis",
            "target_seq": seq,
            "membership_id": actor.pk,
            "alias": actor.alias,
            "category": category,
        },
    )
    log.private(
        broadcast.member_group(meeting.pk, actor.pk),
        {
            "type": "support.resources",
            "resources": [
                {"name": line.name, "contact": line.contact, "region": line.region}
                for line in help_lines_for(meeting.circle.region)
            ],
        },
    )


# Every other frame ---------------------------------------------------------------------

Handler = Callable[[Room, Frame], None]


def frame_apply(*, seat: Seat, frame: Frame, now: dt.datetime) -> Accepted:
    """Lock, re-check the actor, run the frame's handler, publish after commit."""
    handler, facilitator_only = HANDLERS[frame.type]
    with transaction.atomic():
        meeting = lock_meeting(seat.meeting_pk)
        actor = _actor_for(meeting, seat)
        if facilitator_only and actor.role != Role.FACILITATOR:
            raise FrameError(ErrorCode.FORBIDDEN, "Only a facilitator can do that.")
        room = Room(meeting=meeting, actor=actor, log=EventLog(meeting, now), now=now)
        handler(room, frame)
        room.log.publish()
        return Accepted(room.log.last_seq)


def meeting_open(room: Room, frame: Frame) -> None:
    meeting = room.meeting
    if meeting.status == MeetingStatus.LIVE:
        raise FrameError(ErrorCode.CONFLICT, "The circle is already open.")
    meeting.status = MeetingStatus.LIVE
    meeting.opened_at = room.now
    meeting.save(update_fields=["status", "opened_at"])
    room.log.append("meeting.opened", {"by": author_of(room.actor)}, actor=room.actor)


def meeting_end(room: Room, frame: Frame) -> None:
    meeting = room.meeting
    facilitation.round_close_for_meeting_end(room)
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = room.now
    meeting.save(update_fields=["status", "ended_at"])
    room.log.append("meeting.ended", {"by": author_of(room.actor)}, actor=room.actor)
    room.log.close(broadcast.meeting_group(meeting.pk), CloseCode.ENDED)


def _target_message(room: Room, seq: int) -> MeetingEvent:
    event = MeetingEvent.objects.filter(meeting=room.meeting, seq=seq, type="chat.message").first()
    if event is None:
        raise FrameError(ErrorCode.NOT_FOUND, "That message isn't in this meeting.")
    return event


def reaction_send(room: Room, frame: Frame) -> None:
    _require_live(room.meeting)
    target = _target_message(room, frame.target_seq)
    if target.payload.get("deleted"):
        raise FrameError(ErrorCode.NOT_FOUND, "That message was removed.")
    already = MeetingEvent.objects.filter(
        meeting=room.meeting,
        type="reaction.added",
        actor=room.actor,
        payload__target_seq=frame.target_seq,
        payload__kind=frame.kind,
    ).exists()
    if already:
        return
    room.log.append(
        "reaction.added",
        {"target_seq": frame.target_seq, "kind": frame.kind, "membership_id": room.actor.pk},
        actor=room.actor,
    )


def message_report(room: Room, frame: Frame) -> None:
    """A flag for the facilitators. A few open at a time per member: 2,000 of them once
    made every facilitator snapshot too large to send (1.39 MB; daphne's limit is 1 MiB)."""
    target = _target_message(room, frame.target_seq)
    open_reports = MessageReport.objects.filter(
        meeting=room.meeting, reporter=room.actor, resolved_at__isnull=True
    ).count()
    if open_reports >= OPEN_REPORTS_PER_MEMBER:
        raise FrameError(
            ErrorCode.RATE_LIMITED,
            "The facilitators already have your flags and will look at them. Thank you.",
        )
    report = MessageReport.objects.create(
        meeting=room.meeting,
        target_seq=target.seq,
        reporter=room.actor,
        reason=frame.reason,
        created_at=room.now,
    )
    room.log.private(
        broadcast.facilitators_group(room.meeting.pk),
        {
            "type": "report.received",
            "report_id": report.pk,
            "target_seq": target.seq,
            "reason": frame.reason,
            "reporter": author_of(room.actor),
        },
    )


def message_delete(room: Room, frame: Frame) -> None:
    target = _target_message(room, frame.target_seq)
    if target.payload.get("deleted"):
        return
    target.payload = {**target.payload, "body": "", "deleted": True}
    target.save(update_fields=["payload"])
    room.log.append("message.deleted", {"target_seq": target.seq}, actor=room.actor)


def _member_in_meeting(room: Room, membership_id: int) -> Membership:
    member = Membership.objects.filter(
        pk=membership_id, circle_id=room.meeting.circle_id, status=MembershipStatus.ACTIVE
    ).first()
    if member is None:
        raise FrameError(ErrorCode.NOT_FOUND, "That person isn't in this circle.")
    return member


def member_mute(room: Room, frame: Frame) -> None:
    member = _member_in_meeting(room, frame.membership_id)
    if member.role == Role.FACILITATOR:
        raise FrameError(ErrorCode.FORBIDDEN, "Facilitators can't be muted.")
    member.muted_until = room.now + dt.timedelta(minutes=frame.minutes)
    member.save(update_fields=["muted_until", "updated_at"])
    room.log.append(
        "member.muted",
        {"membership_id": member.pk, "until": member.muted_until.isoformat()},
        actor=room.actor,
    )


def member_unmute(room: Room, frame: Frame) -> None:
    member = _member_in_meeting(room, frame.membership_id)
    member.muted_until = None
    member.save(update_fields=["muted_until", "updated_at"])
    room.log.append("member.unmuted", {"membership_id": member.pk}, actor=room.actor)


def member_remove(room: Room, frame: Frame) -> None:
    member = _member_in_meeting(room, frame.membership_id)
    try:
        group_services.membership_remove(actor=room.actor, membership=member)
    except group_services.CircleRuleError as error:
        raise FrameError(ErrorCode.FORBIDDEN, " ".join(error.messages)) from None
    _removed_from_room(room, member)


def _removed_from_room(room: Room, member: Membership) -> None:
    """Called with the meeting locked: his turn and queue place go, the room hears
    it (`member.removed`, or `member.left` when he left the circle himself), and his
    sockets close with 4403."""
    facilitation.round_member_removed(room, member)
    event = "member.left" if member.status == MembershipStatus.LEFT else "member.removed"
    room.log.append(event, {"membership_id": member.pk}, actor=room.actor)
    room.log.close(broadcast.member_group(room.meeting.pk, member.pk), CloseCode.NOT_ALLOWED)


def membership_remove_everywhere(*, actor: Membership, membership: Membership) -> Membership:
    """Remove a member from the circle (the manage page's button), and from every
    meeting he is in right now, exactly as the room's `member.remove` does."""
    return _leave_rooms(
        membership=membership,
        actor=actor,
        change=lambda: group_services.membership_remove(actor=actor, membership=membership),
    )


def membership_leave_everywhere(*, membership: Membership) -> Membership:
    """A member leaves the circle: his open rooms let him go too."""
    return _leave_rooms(
        membership=membership,
        actor=membership,
        change=lambda: group_services.membership_leave(membership=membership),
    )


def _leave_rooms(*, membership: Membership, actor: Membership, change) -> Membership:
    now = timezone.now()
    with transaction.atomic():
        meeting_pks = list(
            Meeting.objects.filter(
                circle_id=membership.circle_id,
                status__in=[MeetingStatus.SCHEDULED, MeetingStatus.LIVE],
                attendances__membership=membership,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        # One lock order everywhere: meetings first, then the circle (in the service).
        meetings = [lock_meeting(pk) for pk in meeting_pks]
        changed = change()
        if changed.status in (MembershipStatus.REMOVED, MembershipStatus.LEFT):
            for meeting in meetings:
                room = Room(meeting=meeting, actor=actor, log=EventLog(meeting, now), now=now)
                _removed_from_room(room, changed)
                room.log.publish()
        return changed


def circle_update_everywhere(*, actor: Membership, circle, **fields) -> object:
    """Edit a circle (its page's form). When the agreements change, members must accept
    them again before they next enter: their open rooms close (4403) now, rather than
    at their next frame."""
    before = circle.agreements_updated_at
    updated = group_services.circle_update(actor=actor, circle=circle, **fields)
    if updated.agreements_updated_at != before:
        meetings = Meeting.objects.filter(
            circle=updated, status__in=[MeetingStatus.SCHEDULED, MeetingStatus.LIVE]
        )
        members = list(
            Membership.objects.filter(
                circle=updated, status=MembershipStatus.ACTIVE, role=Role.MEMBER
            ).values_list("pk", flat=True)
        )
        with transaction.atomic():
            for meeting_pk in meetings.values_list("pk", flat=True):
                for member_pk in members:
                    broadcast.close_on_commit(
                        broadcast.member_group(meeting_pk, member_pk), CloseCode.NOT_ALLOWED
                    )
    return updated


HANDLERS: dict[str, tuple[Handler, bool]] = {
    "meeting.open": (meeting_open, True),
    "meeting.end": (meeting_end, True),
    "reaction.send": (reaction_send, False),
    "message.report": (message_report, False),
    "message.delete": (message_delete, True),
    "member.mute": (member_mute, True),
    "member.unmute": (member_unmute, True),
    "member.remove": (member_remove, True),
    **facilitation.HANDLERS,
}


# Reading the log -----------------------------------------------------------------------


def events_after(*, seat: Seat, after: int, limit: int) -> tuple[list[dict], int]:
    """Events with seq > after (at most `limit`), and the newest seq. Re-checks access."""
    with transaction.atomic():
        meeting = lock_meeting(seat.meeting_pk)
        _actor_for(meeting, seat)
        events = list(
            MeetingEvent.objects.filter(meeting_id=seat.meeting_pk, seq__gt=after).order_by("seq")[
                :limit
            ]
        )
        return [serialize(e) for e in events], meeting.newest_seq
