"""What a person sees on connecting: the snapshot (docs/protocol.md)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction
from django.db.models import Max

from facilitation import services as facilitation
from facilitation.library import builtin_cards, serves
from facilitation.library_services import library_filter
from facilitation.models import Prompt, PromptUse, Turn
from groups.models import Meeting, Membership, MembershipStatus, Role
from groups.regions import help_lines_for
from room.log import lock_meeting_row, newest_seq_subquery, serialize
from room.models import MeetingEvent

from . import protocol
from .models import CrisisAlert, MessageReport
from .protocol import SNAPSHOT_EVENTS, SNAPSHOT_NOTICES


def meeting_snapshot(*, meeting_pk: int, membership_id: int) -> dict[str, Any]:
    """Read as one moment, so seq, events, round and queue agree: no event can commit
    between reading them. Never larger than protocol.SNAPSHOT_MAX_BYTES (a member's)
    or FACILITATOR_SNAPSHOT_MAX_BYTES: every text in it has a limit, and every list a
    count (and the events a size too)."""
    with one_moment(meeting_pk):
        return _snapshot(meeting_pk=meeting_pk, membership_id=membership_id)


@contextmanager
def one_moment(meeting_pk: int) -> Iterator[None]:
    """On PostgreSQL, a REPEATABLE READ READ ONLY transaction: every statement sees the
    database as of the first, and nobody waits (the meeting row is not locked, so a
    thousand people connecting don't queue behind each other in their meeting). Inside
    an open transaction the isolation can't change: the meeting row is locked first
    instead. SQLite's transactions are one moment already."""
    conn = transaction.get_connection()
    outermost = not conn.in_atomic_block
    with transaction.atomic():
        if conn.vendor == "postgresql" and outermost:
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            # Lock first, read after. In READ COMMITTED, a locking statement that had to
            # wait for a writer reads every other table (the log, the agenda step) as it
            # was when the statement started: it would pair the old seq with the new event.
            lock_meeting_row(meeting_pk)
        yield


def _snapshot(*, meeting_pk: int, membership_id: int) -> dict[str, Any]:
    meeting = (
        Meeting.objects.select_related("circle", "current_step", "script", "circle__default_script")
        .annotate(newest=newest_seq_subquery())
        .get(pk=meeting_pk)
    )
    you = Membership.objects.get(pk=membership_id)
    members = list(
        Membership.objects.filter(circle=meeting.circle, status=MembershipStatus.ACTIVE).order_by(
            "role", "alias"
        )
    )
    present = facilitation.present_ids(meeting.pk)
    live = facilitation.facilitation_snapshot(meeting, present=present)
    is_facilitator = you.role == Role.FACILITATOR
    snapshot = {
        "type": "snapshot",
        "seq": meeting.newest or 0,
        "meeting": _meeting_part(meeting, live, include_notes=is_facilitator),
        "you": {
            "membership_id": you.pk,
            "alias": you.alias,
            "role": you.role,
            "first_round": not Turn.objects.filter(membership=you).exists(),
        },
        "members": [_member_part(m) for m in members],
        "present": sorted(present),
        "round": live["round"],
        "queue": live["queue"],
        "events": _newest_events(meeting),
        "help_lines": protocol.help_lines(help_lines_for(meeting.circle.region)),
    }
    if is_facilitator:
        snapshot["facilitator"] = _facilitator_part(meeting, members)
        _mark_first_rounds(snapshot["members"], meeting, members)
    return snapshot


def _meeting_part(meeting: Meeting, live: dict[str, Any], *, include_notes: bool) -> dict:
    circle = meeting.circle
    return {
        "id": str(meeting.public_id),
        "circle": {"name": circle.name, "kind": circle.kind, "call_link": circle.call_link or None},
        "status": meeting.status,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "step": live["step"],
        "step_started_at": live["step_started_at"],
        "agenda": _agenda(meeting, include_notes=include_notes),
    }


def _member_part(member: Membership) -> dict[str, Any]:
    return {
        **protocol.author(member),
        "muted_until": member.muted_until.isoformat() if member.muted_until else None,
    }


def _newest_events(meeting: Meeting) -> list[dict[str, Any]]:
    newest = MeetingEvent.objects.filter(meeting=meeting).order_by("-seq")[:SNAPSHOT_EVENTS]
    events = [serialize(e) for e in reversed(list(newest))]
    return protocol.newest_within(events, protocol.SNAPSHOT_EVENTS_MAX_BYTES)


def _facilitator_part(meeting: Meeting, members: list[Membership]) -> dict[str, Any]:
    """What only facilitators see: speaking times, the prompt library, coaching cards,
    intentions, and the open alerts and flags (the newest few, and how many)."""
    open_alerts = CrisisAlert.objects.filter(meeting=meeting, resolved_at__isnull=True)
    open_reports = MessageReport.objects.filter(meeting=meeting, resolved_at__isnull=True)
    return {
        "speaking": {str(k): v for k, v in facilitation.speaking_stats(meeting.pk).items()},
        "prompts": _prompt_library(meeting),
        "coaching": _coaching_cards(meeting.circle.kind),
        "intentions": {str(m.pk): m.intention for m in members if m.intention},
        "alerts": [
            protocol.crisis_alert(
                target_seq=a.target_seq,
                member=a.membership,
                category=a.category,
                at=a.created_at.isoformat(),
            )
            for a in _newest(open_alerts.select_related("membership"))
        ],
        "alerts_open": open_alerts.count(),
        "reports": [
            protocol.report_received(
                report_id=r.pk,
                target_seq=r.target_seq,
                reason=r.reason,
                reporter=r.reporter,
                at=r.created_at.isoformat(),
            )
            for r in _newest(open_reports.select_related("reporter"))
        ],
        "reports_open": open_reports.count(),
    }


def _coaching_cards(circle_kind: str) -> list[dict[str, Any]]:
    return [
        {
            "key": c.key,
            "situation": c.situation or None,
            "strategy": c.strategy,
            "title": c.title,
            "body": c.body,
        }
        for c in builtin_cards()
        if serves(c.kind, circle_kind)
    ]


def _mark_first_rounds(entries: list[dict], meeting: Meeting, members: list[Membership]) -> None:
    """Who is in his first round (no turn in any earlier meeting): the console shows
    the first-round coaching card for them. Facilitators only."""
    veterans = set(
        Turn.objects.filter(membership__in=members)
        .exclude(round__meeting=meeting)
        .values_list("membership_id", flat=True)
        .distinct()
    )
    for entry in entries:
        entry["first_round"] = entry["membership_id"] not in veterans


def _newest(notices):
    """The newest few open notices, oldest first: the snapshot stays small however many
    are open (their number is sent beside them)."""
    return list(notices.order_by("-created_at", "-pk")[:SNAPSHOT_NOTICES])[::-1]


def _agenda(meeting, *, include_notes: bool) -> dict | None:
    script = facilitation.meeting_script(meeting)
    if script is None:
        return None
    steps = []
    for step in script.steps.select_related("prompt").order_by("position"):
        item = facilitation.step_payload(step) or {}
        if include_notes:
            item["notes"] = step.notes
        steps.append(item)
    return {"id": script.pk, "name": script.name, "steps": steps}


def _prompt_library(meeting) -> list[dict]:
    """Built-in prompts for this kind of circle plus the circle's own, with when each
    was last used here (so the circle doesn't hear the same one every week)."""
    circle = meeting.circle
    last_used = dict(
        PromptUse.objects.filter(circle=circle)
        .values("prompt_id")
        .annotate(last=Max("used_at"))
        .values_list("prompt_id", "last")
    )
    prompts = Prompt.objects.filter(library_filter(circle))
    return [
        {
            "id": p.pk,
            "text": p.text,
            "strategy": p.strategy,
            "phase": p.phase,
            "depth": p.depth,
            "own": p.circle_id is not None,
            "last_used": last_used[p.pk].isoformat() if p.pk in last_used else None,
        }
        for p in prompts.order_by("phase", "depth", "pk")
    ]
