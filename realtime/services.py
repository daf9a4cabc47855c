"""The live room's own actions: chat, the meeting's opening and end, reactions, flags
and moderation, and reading the log.

Locked actions take the Room (room.context.acting has locked the meeting and checked
the actor) and keyword-only arguments; realtime.dispatch says who may call each.
chat_send is the hot path and runs its own three-statement transaction.
"""

import datetime as dt
import logging
from dataclasses import dataclass
from functools import cache

from django.db import IntegrityError, transaction

from facilitation import services as facilitation
from facilitation.models import Round, Turn
from facilitation.queue import QueueState, may_chat
from groups import services as group_services
from groups.models import Meeting, MeetingStatus, Membership, MembershipStatus, Role
from groups.regions import help_lines_for
from room import broadcast, rows
from room.context import (
    Accepted,
    Room,
    Seat,
    acting_member,
    read_actor,
    require_live,
    require_not_muted,
)
from room.errors import CloseCode, ErrorCode, RoomError
from room.log import EventLog, lock_meeting, lock_meeting_row, serialize
from room.models import MeetingEvent

from . import protocol
from .crisis import crisis_category
from .models import CrisisAlert, MessageReport

logger = logging.getLogger(__name__)

CHAT_RATE_COUNT = 5
CHAT_RATE_SECONDS = 10
OPEN_REPORTS_PER_MEMBER = 3


# Chat: the hot path ---------------------------------------------------------------------


def chat_send(*, seat: Seat, body: str, client_id: str | None, now: dt.datetime) -> Accepted:
    """Three statements: lock the meeting row; then, once the lock is held (so it sees
    what the previous holder committed), the actor with everything the rules need
    (_chat_facts); and the insert. A retry with the same client_id gets the first
    answer."""
    try:
        with transaction.atomic():
            meeting = lock_meeting_row(seat.meeting_pk)
            facts = _chat_facts(meeting, seat, client_id)
            actor = facts.actor
            meeting.newest_seq = facts.newest_seq
            if facts.duplicate_seq:
                return Accepted(facts.duplicate_seq)
            _refuse_chat(meeting, facts, now)
            log = EventLog(meeting, now)
            event = log.append(
                "chat.message",
                {"author": protocol.author(actor), "body": body, "client_id": client_id},
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
        seq = _earlier_send(seat, client_id).first() if client_id else None
        if seq:
            return Accepted(seq)
        raise


def _earlier_send(seat: Seat, client_id: str):
    return MeetingEvent.objects.filter(
        meeting_id=seat.meeting_pk, actor_id=seat.membership_id, client_id=client_id
    ).values_list("seq", flat=True)


@dataclass(frozen=True)
class ChatFacts:
    """What chat's rules need, read in one statement once the meeting is locked."""

    actor: Membership
    newest_seq: int
    duplicate_seq: int | None  # an earlier send with this client_id
    rate_window_start: dt.datetime | None  # his CHAT_RATE_COUNT-th newest message
    round_active: bool
    round_speaker: int | None


def _chat_facts(meeting: Meeting, seat: Seat, client_id: str | None) -> ChatFacts:
    """The actor, checked (acting_member), and the facts about him, in one statement."""
    row = rows.fetch_one(
        _chat_facts_sql(),
        {
            "member": seat.membership_id,
            "user": seat.user_id,
            "meeting": seat.meeting_pk,
            "client_id": client_id,
            "rate_offset": CHAT_RATE_COUNT - 1,
        },
    )
    actor = acting_member(meeting, rows.instance(Membership, row) if row else None)
    newest_seq, duplicate_seq, rate_window_start, round_active, round_speaker = (
        row[rows.width(Membership) :] if row else (0, None, None, False, None)
    )
    return ChatFacts(
        actor=actor,
        newest_seq=newest_seq or 0,
        duplicate_seq=duplicate_seq,
        rate_window_start=rows.read_datetime(rate_window_start),
        round_active=bool(round_active),
        round_speaker=round_speaker,
    )


@cache
def _chat_facts_sql() -> str:
    """Written as SQL once, here: the hot path's read. Django built the same statement
    from querysets on every message, and building it was half of a message's cost
    (docs/performance.md). Table names come from the models (room.rows)."""
    event = MeetingEvent._meta.db_table
    # Table names from the models; every value is a parameter.
    return f"""
        SELECT {rows.columns(Membership, "member")},
            (SELECT seq FROM {event} WHERE meeting_id = %(meeting)s
                ORDER BY seq DESC LIMIT 1) AS newest_seq,
            (SELECT seq FROM {event} WHERE meeting_id = %(meeting)s
                AND actor_id = %(member)s AND client_id = %(client_id)s LIMIT 1) AS duplicate_seq,
            (SELECT created_at FROM {event} WHERE meeting_id = %(meeting)s
                AND actor_id = %(member)s AND type = 'chat.message'
                ORDER BY seq DESC LIMIT 1 OFFSET %(rate_offset)s) AS rate_window_start,
            EXISTS (SELECT 1 FROM {Round._meta.db_table} WHERE meeting_id = %(meeting)s
                AND ended_at IS NULL) AS round_active,
            (SELECT turn.membership_id FROM {Turn._meta.db_table} turn
                JOIN {Round._meta.db_table} round ON round.id = turn.round_id
                WHERE round.meeting_id = %(meeting)s AND turn.ended_at IS NULL
                LIMIT 1) AS round_speaker
        FROM {Membership._meta.db_table} member
        WHERE member.id = %(member)s AND member.user_id = %(user)s
    """  # noqa: S608


def _refuse_chat(meeting: Meeting, facts: ChatFacts, now: dt.datetime) -> None:
    actor = facts.actor
    require_live(meeting, actor)
    require_not_muted(actor, now)
    window = facts.rate_window_start
    if window and (now - window).total_seconds() < CHAT_RATE_SECONDS:
        raise RoomError(ErrorCode.RATE_LIMITED, "That's a lot of messages at once. Take a breath.")
    refusal = may_chat(
        is_facilitator=actor.role == Role.FACILITATOR,
        membership_id=actor.pk,
        queue=QueueState(floor=meeting.floor_holder_id, talking_piece=meeting.talking_piece),
        round_speaker=facts.round_speaker,
        round_active=facts.round_active,
    )
    if refusal:
        raise RoomError(
            ErrorCode(refusal),
            "It's someone else's turn to speak. You can still react to show you heard."
            if facts.round_active
            else "The talking piece is with someone else. Raise your hand to ask for it.",
        )


def _crisis_alert(log: EventLog, *, actor: Membership, seq: int, category: str) -> None:
    meeting = log.meeting
    CrisisAlert.objects.create(
        meeting=meeting, target_seq=seq, membership=actor, category=category, created_at=log.now
    )
    log.private(
        broadcast.FACILITATORS,
        protocol.crisis_alert(target_seq=seq, member=actor, category=category),
    )
    log.private(
        broadcast.member(actor.pk),
        protocol.support_resources(help_lines_for(meeting.circle.region)),
    )


# The meeting -----------------------------------------------------------------------------


def meeting_open(room: Room) -> None:
    meeting = room.meeting
    if meeting.status == MeetingStatus.LIVE:
        raise RoomError(ErrorCode.CONFLICT, "The circle is already open.")
    meeting.status = MeetingStatus.LIVE
    meeting.opened_at = room.now
    meeting.save(update_fields=["status", "opened_at"])
    room.log.append("meeting.opened", {"by": protocol.author(room.actor)}, actor=room.actor)


def meeting_end(room: Room) -> None:
    meeting = room.meeting
    facilitation.round_close_for_meeting_end(room)
    meeting.status = MeetingStatus.ENDED
    meeting.ended_at = room.now
    meeting.save(update_fields=["status", "ended_at"])
    room.log.append("meeting.ended", {"by": protocol.author(room.actor)}, actor=room.actor)
    room.log.close(None, CloseCode.ENDED)


# Messages: reactions, flags, removal ---------------------------------------------------


def _target_message(room: Room, seq: int) -> MeetingEvent:
    event = MeetingEvent.objects.filter(meeting=room.meeting, seq=seq, type="chat.message").first()
    if event is None:
        raise RoomError(ErrorCode.NOT_FOUND, "That message isn't in this meeting.")
    return event


def reaction_send(room: Room, *, target_seq: int, kind: str) -> None:
    require_live(room.meeting, room.actor)
    target = _target_message(room, target_seq)
    if target.payload.get("deleted"):
        raise RoomError(ErrorCode.NOT_FOUND, "That message was removed.")
    already = MeetingEvent.objects.filter(
        meeting=room.meeting,
        type="reaction.added",
        actor=room.actor,
        payload__target_seq=target_seq,
        payload__kind=kind,
    ).exists()
    if already:
        return
    room.log.append(
        "reaction.added",
        {"target_seq": target_seq, "kind": kind, "membership_id": room.actor.pk},
        actor=room.actor,
    )


def _open_reports(room: Room):
    return MessageReport.objects.filter(meeting=room.meeting, resolved_at__isnull=True)


def message_report(room: Room, *, target_seq: int, reason: str) -> None:
    """A flag for the facilitators. A few open at a time per member: 2,000 of them once
    made every facilitator snapshot too large to send (1.39 MB; daphne's limit is 1 MiB)."""
    target = _target_message(room, target_seq)
    if _open_reports(room).filter(reporter=room.actor).count() >= OPEN_REPORTS_PER_MEMBER:
        raise RoomError(
            ErrorCode.RATE_LIMITED,
            "The facilitators already have your flags and will look at them. Thank you.",
        )
    report = MessageReport.objects.create(
        meeting=room.meeting,
        target_seq=target.seq,
        reporter=room.actor,
        reason=reason,
        created_at=room.now,
    )
    room.log.private(
        broadcast.FACILITATORS,
        protocol.report_received(
            report_id=report.pk,
            target_seq=target.seq,
            reason=reason,
            reporter=room.actor,
            reports_open=_open_reports(room).count(),
        ),
    )


def report_resolve(room: Room, *, report_id: int) -> None:
    """A facilitator looked at a flag: it leaves every facilitator's open list."""
    report = _open_reports(room).filter(pk=report_id).first()
    if report is None:
        raise RoomError(ErrorCode.NOT_FOUND, "That flag was already looked at, or isn't here.")
    report.resolved_at = room.now
    report.save(update_fields=["resolved_at"])
    room.log.private(
        broadcast.FACILITATORS,
        protocol.report_resolved(
            report_id=report.pk, by=room.actor, reports_open=_open_reports(room).count()
        ),
    )


def message_delete(room: Room, *, target_seq: int) -> None:
    target = _target_message(room, target_seq)
    if target.payload.get("deleted"):
        return
    target.payload = {**target.payload, "body": "", "deleted": True}
    target.save(update_fields=["payload"])
    room.log.append("message.deleted", {"target_seq": target.seq}, actor=room.actor)


# Members ---------------------------------------------------------------------------------


def _member_in_meeting(room: Room, membership_id: int) -> Membership:
    member = Membership.objects.filter(
        pk=membership_id, circle_id=room.meeting.circle_id, status=MembershipStatus.ACTIVE
    ).first()
    if member is None:
        raise RoomError(ErrorCode.NOT_FOUND, "That person isn't in this circle.")
    return member


def member_mute(room: Room, *, membership_id: int, minutes: int) -> None:
    member = _member_in_meeting(room, membership_id)
    if member.role == Role.FACILITATOR:
        raise RoomError(ErrorCode.FORBIDDEN, "Facilitators can't be muted.")
    member.muted_until = room.now + dt.timedelta(minutes=minutes)
    member.save(update_fields=["muted_until", "updated_at"])
    room.log.append(
        "member.muted",
        {"membership_id": member.pk, "until": member.muted_until.isoformat()},
        actor=room.actor,
    )


def member_unmute(room: Room, *, membership_id: int) -> None:
    member = _member_in_meeting(room, membership_id)
    member.muted_until = None
    member.save(update_fields=["muted_until", "updated_at"])
    room.log.append("member.unmuted", {"membership_id": member.pk}, actor=room.actor)


def member_remove(room: Room, *, membership_id: int) -> None:
    """Removed from the circle; realtime.signals lets him out of his open rooms, this
    one included, in this transaction."""
    member = _member_in_meeting(room, membership_id)
    try:
        group_services.membership_remove(actor=room.actor, membership=member)
    except group_services.CircleRuleError as error:
        raise RoomError(ErrorCode.FORBIDDEN, " ".join(error.messages)) from None


def removed_from_room(room: Room, member: Membership) -> None:
    """With the meeting locked: his turn and queue place go, the room hears it
    (`member.removed`, or `member.left` when he left the circle himself), and his
    sockets close with 4403."""
    facilitation.round_member_removed(room, member)
    event = "member.left" if member.status == MembershipStatus.LEFT else "member.removed"
    room.log.append(event, {"membership_id": member.pk}, actor=room.actor)
    room.log.close(broadcast.member(member.pk), CloseCode.NOT_ALLOWED)


def open_meetings_of(membership: Membership) -> list[int]:
    """The meetings, not ended, that he has entered: the rooms a change must reach."""
    return list(
        Meeting.objects.filter(
            circle_id=membership.circle_id,
            status__in=[MeetingStatus.SCHEDULED, MeetingStatus.LIVE],
            attendances__membership=membership,
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def lock_open_meetings_of(membership: Membership) -> list[Meeting]:
    return [lock_meeting(pk) for pk in open_meetings_of(membership)]


# Reading the log -----------------------------------------------------------------------


def events_after(*, seat: Seat, after: int, limit: int) -> tuple[list[dict], int]:
    """Events with seq > after (at most `limit`), and the newest seq. Re-checks access."""
    with transaction.atomic():
        meeting = lock_meeting(seat.meeting_pk)
        acting_member(meeting, read_actor(seat))
        events = MeetingEvent.objects.filter(meeting_id=seat.meeting_pk, seq__gt=after)
        return [serialize(e) for e in events.order_by("seq")[:limit]], meeting.newest_seq
