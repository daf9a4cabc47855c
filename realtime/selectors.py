"""What a person sees on connecting: the snapshot (docs/protocol.md)."""

from django.db import transaction
from django.db.models import Max

from facilitation import services as facilitation
from facilitation.library import builtin_cards, serves
from facilitation.models import Prompt, PromptUse, Turn
from groups.models import Meeting, Membership, MembershipStatus, Role
from groups.regions import help_lines_for

from .events import lock_meeting_row, newest_seq_subquery, serialize
from .models import CrisisAlert, MeetingEvent, MessageReport
from .protocol import SNAPSHOT_EVENTS, SNAPSHOT_NOTICES


@transaction.atomic
def meeting_snapshot(*, meeting_pk: int, membership_id: int) -> dict:
    """Read with the meeting row locked, so seq, events, round and queue are one
    moment: no event can commit between reading them."""
    # Lock first, read after. In READ COMMITTED, a locking statement that had to wait
    # for a writer reads every other table (the log, the agenda step) as it was when
    # the statement started: it would pair the old seq with the writer's new event.
    lock_meeting_row(meeting_pk)
    meeting = (
        Meeting.objects.select_related("circle", "current_step", "script", "circle__default_script")
        .annotate(newest_seq=newest_seq_subquery())
        .get(pk=meeting_pk)
    )
    circle = meeting.circle
    you = Membership.objects.get(pk=membership_id)
    members = list(
        Membership.objects.filter(circle=circle, status=MembershipStatus.ACTIVE).order_by(
            "role", "alias"
        )
    )
    present = facilitation.present_ids(meeting.pk)
    events = list(MeetingEvent.objects.filter(meeting=meeting).order_by("-seq")[:SNAPSHOT_EVENTS])[
        ::-1
    ]
    live = facilitation.facilitation_snapshot(meeting, present=present)
    is_facilitator = you.role == Role.FACILITATOR
    snapshot = {
        "type": "snapshot",
        "seq": meeting.newest_seq or 0,
        "meeting": {
            "id": str(meeting.public_id),
            "circle": {
                "name": circle.name,
                "kind": circle.kind,
                "call_link": circle.call_link or None,
            },
            "status": meeting.status,
            "starts_at": meeting.starts_at.isoformat(),
            "ends_at": meeting.ends_at.isoformat(),
            "step": live["step"],
            "step_started_at": live["step_started_at"],
            "agenda": _agenda(meeting, include_notes=is_facilitator),
        },
        "you": {
            "membership_id": you.pk,
            "alias": you.alias,
            "role": you.role,
            "first_round": not Turn.objects.filter(membership=you).exists(),
        },
        "members": [
            {
                "membership_id": m.pk,
                "alias": m.alias,
                "role": m.role,
                "muted_until": m.muted_until.isoformat() if m.muted_until else None,
            }
            for m in members
        ],
        "present": sorted(present),
        "round": live["round"],
        "queue": live["queue"],
        "events": [serialize(e) for e in events],
        "help_lines": [
            {"name": line.name, "contact": line.contact, "region": line.region}
            for line in help_lines_for(circle.region)
        ],
    }
    if is_facilitator:
        open_alerts = CrisisAlert.objects.filter(meeting=meeting, resolved_at__isnull=True)
        open_reports = MessageReport.objects.filter(meeting=meeting, resolved_at__isnull=True)
        snapshot["facilitator"] = {
            "speaking": {str(k): v for k, v in facilitation.speaking_stats(meeting.pk).items()},
            "prompts": _prompt_library(meeting),
            "coaching": [
                {
                    "key": c.key,
                    "situation": c.situation or None,
                    "strategy": c.strategy,
                    "title": c.title,
                    "body": c.body,
                }
                for c in builtin_cards()
                if serves(c.kind, circle.kind)
            ],
            "intentions": {str(m.pk): m.intention for m in members if m.intention},
            "alerts": [
                {
                    "type": "alert.crisis",
                    "target_seq": a.target_seq,
                    "membership_id": a.membership_id,
                    "alias": a.membership.alias,
                    "category": a.category,
                    "at": a.created_at.isoformat(),
                }
                for a in _newest(open_alerts.select_related("membership"))
            ],
            "alerts_open": open_alerts.count(),
            "reports": [
                {
                    "type": "report.received",
                    "report_id": r.pk,
                    "target_seq": r.target_seq,
                    "reason": r.reason,
                    "reporter": {
                        "membership_id": r.reporter_id,
                        "alias": r.reporter.alias,
                        "role": r.reporter.role,
                    },
                    "at": r.created_at.isoformat(),
                }
                for r in _newest(open_reports.select_related("reporter"))
            ],
            "reports_open": open_reports.count(),
        }
        # Who is in his first round (no turn in any earlier meeting): the console
        # shows the first-round coaching card for them. Facilitators only.
        veterans = set(
            Turn.objects.filter(membership__in=members)
            .exclude(round__meeting=meeting)
            .values_list("membership_id", flat=True)
            .distinct()
        )
        for entry in snapshot["members"]:
            entry["first_round"] = entry["membership_id"] not in veterans
    return snapshot


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
        item = facilitation.step_payload(step)
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
    prompts = Prompt.objects.filter(kind__in=[circle.kind, "both"], circle__isnull=True) | (
        Prompt.objects.filter(circle=circle)
    )
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
