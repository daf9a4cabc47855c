"""What a person sees on connecting: the snapshot (docs/protocol.md)."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from django.db import connection, transaction

from facilitation import services as facilitation
from facilitation.library import builtin_cards, serves
from facilitation.models import Prompt, PromptUse, Round, Script, ScriptStep, Turn
from groups.models import Circle, Meeting, Membership, MembershipStatus, Role
from groups.regions import help_lines_for
from room import rows
from room.log import lock_meeting_row
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


def meeting_snapshot_text(*, meeting_pk: int, membership_id: int) -> str:
    """The snapshot frame's text, written where it is read (a database thread): a
    facilitator's is tens of KB, and encoding it on the event loop held up everyone's
    deliveries while a meeting connected."""
    return protocol.dumps(meeting_snapshot(meeting_pk=meeting_pk, membership_id=membership_id))


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
    meeting = _meeting(meeting_pk)
    members = _active_members(meeting.circle_id)
    you = next((m for m in members if m.pk == membership_id), None) or rows.get(
        Membership, membership_id
    )
    present = facilitation.present_ids(meeting.pk)
    aliases = {m.pk: m.alias for m in members}
    script, steps = _agenda_steps(meeting)
    current = next((s for s in steps if s.pk == meeting.current_step_id), None)
    if current is not None:
        meeting.current_step = current  # else read when asked for
    live = facilitation.facilitation_snapshot(meeting, present=present, aliases=aliases)
    is_facilitator = you.role == Role.FACILITATOR
    snapshot = {
        "type": "snapshot",
        "seq": meeting.newest_seq,
        "meeting": _meeting_part(meeting, live, _agenda(script, steps, notes=is_facilitator)),
        "you": {
            "membership_id": you.pk,
            "alias": you.alias,
            "role": you.role,
            "first_round": not rows.fetch_one(_has_spoken_sql(), [you.pk]),
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


# What every connect reads, by hand (room.rows): a thousand people connect at once.


def _meeting(meeting_pk: int) -> Meeting:
    """The meeting with its circle and the newest seq of its log."""
    row = rows.fetch_one(_meeting_sql(), [meeting_pk])
    if row is None:
        raise Meeting.DoesNotExist(f"No meeting {meeting_pk}.")
    meeting = rows.instance(Meeting, row)
    meeting.circle = rows.instance(Circle, row, rows.width(Meeting))
    meeting.newest_seq = row[-1] or 0
    return meeting


@cache
def _meeting_sql() -> str:
    return (
        f"SELECT {rows.columns(Meeting, 'm')}, {rows.columns(Circle, 'c')},"  # noqa: S608
        f' (SELECT seq FROM "{MeetingEvent._meta.db_table}" e WHERE e.meeting_id = m.id'
        " ORDER BY seq DESC LIMIT 1)"
        f' FROM "{Meeting._meta.db_table}" m JOIN "{Circle._meta.db_table}" c'
        " ON c.id = m.circle_id WHERE m.id = %s"
    )


def _active_members(circle_pk: int) -> list[Membership]:
    return [rows.instance(Membership, row) for row in rows.fetch_all(_members_sql(), [circle_pk])]


@cache
def _members_sql() -> str:
    return (
        f'SELECT {rows.columns(Membership, "ms")} FROM "{Membership._meta.db_table}" ms'  # noqa: S608
        f" WHERE ms.circle_id = %s AND ms.status = '{MembershipStatus.ACTIVE.value}'"
        " ORDER BY ms.role, ms.alias"
    )


@cache
def _has_spoken_sql() -> str:
    return f'SELECT 1 FROM "{Turn._meta.db_table}" WHERE membership_id = %s LIMIT 1'  # noqa: S608


@cache
def _events_sql() -> str:
    """As room.log.serialize writes an event; no model instance per event (a hundred
    per connect)."""
    return (
        f'SELECT seq, type, created_at, payload FROM "{MeetingEvent._meta.db_table}"'  # noqa: S608
        " WHERE meeting_id = %s ORDER BY seq DESC LIMIT %s"
    )


def _agenda_steps(meeting: Meeting) -> tuple[Script | None, list[ScriptStep]]:
    """The meeting's agenda and its steps: facilitation.meeting_script's choice (the
    meeting's, else the circle's default, else the built-in one for its kind), by hand."""
    script_id = meeting.script_id or meeting.circle.default_script_id
    if script_id is not None:
        script: Script | None = rows.get(Script, script_id)
    else:
        key = facilitation.BUILT_IN_SCRIPT_FOR_KIND.get(meeting.circle.kind)
        row = rows.fetch_one(_script_by_key_sql(), [key])
        script = rows.instance(Script, row) if row else None
    if script is None:
        return None, []
    steps = rows.fetch_all(_steps_sql(), [script.pk])
    return script, [rows.instance(ScriptStep, row) for row in steps]


@cache
def _script_by_key_sql() -> str:
    return f'SELECT {rows.columns(Script, "s")} FROM "{Script._meta.db_table}" s WHERE s.key = %s'  # noqa: S608


@cache
def _steps_sql() -> str:
    return (
        f'SELECT {rows.columns(ScriptStep, "s")} FROM "{ScriptStep._meta.db_table}" s'  # noqa: S608
        " WHERE s.script_id = %s ORDER BY s.position"
    )


def _meeting_part(meeting: Meeting, live: dict[str, Any], agenda: dict | None) -> dict:
    circle = meeting.circle
    return {
        "id": str(meeting.public_id),
        "circle": {"name": circle.name, "kind": circle.kind, "call_link": circle.call_link or None},
        "status": meeting.status,
        "starts_at": meeting.starts_at.isoformat(),
        "ends_at": meeting.ends_at.isoformat(),
        "step": live["step"],
        "step_started_at": live["step_started_at"],
        "agenda": agenda,
    }


def _member_part(member: Membership) -> dict[str, Any]:
    return {
        **protocol.author(member),
        "muted_until": member.muted_until.isoformat() if member.muted_until else None,
    }


def _newest_events(meeting: Meeting) -> list[dict[str, Any]]:
    newest = rows.fetch_all(_events_sql(), [meeting.pk, SNAPSHOT_EVENTS])
    payload = MeetingEvent._meta.get_field("payload")
    events = [
        {
            "type": type_,
            "seq": seq,
            "at": rows.read_timestamp(at).isoformat(),
            **payload.from_db_value(data, None, connection),  # type: ignore[arg-type]
        }
        for seq, type_, at, data in reversed(newest)
    ]
    return protocol.newest_within(events, protocol.SNAPSHOT_EVENTS_MAX_BYTES)


def _facilitator_part(meeting: Meeting, members: list[Membership]) -> dict[str, Any]:
    """What only facilitators see: speaking times, the prompt library, coaching cards,
    intentions, and the open alerts and flags (the newest few, and how many)."""
    known = {m.pk: m for m in members}
    alerts, alerts_open = _newest_open(CrisisAlert, meeting.pk)
    reports, reports_open = _newest_open(MessageReport, meeting.pk)
    return {
        "speaking": {str(k): v for k, v in facilitation.speaking_stats(meeting.pk).items()},
        "prompts": _prompt_library(meeting),
        "coaching": _coaching_cards(meeting.circle.kind),
        "intentions": {str(m.pk): m.intention for m in members if m.intention},
        "alerts": [
            protocol.crisis_alert(
                target_seq=a.target_seq,
                member=_member(known, a.membership_id),
                category=a.category,
                at=a.created_at.isoformat(),
            )
            for a in alerts
        ],
        "alerts_open": alerts_open,
        "reports": [
            protocol.report_received(
                report_id=r.pk,
                target_seq=r.target_seq,
                reason=r.reason,
                reporter=_member(known, r.reporter_id),
                at=r.created_at.isoformat(),
            )
            for r in reports
        ],
        "reports_open": reports_open,
    }


def _member(known: dict[int, Membership], pk: int) -> Membership:
    """One of the circle's members, read if he is no longer active in it."""
    member = known.get(pk)
    if member is None:
        member = known[pk] = rows.get(Membership, pk)
    return member


def _newest_open[N: (CrisisAlert, MessageReport)](
    model: type[N], meeting_pk: int
) -> tuple[list[N], int]:
    """The newest few open notices, oldest first, and how many are open: the snapshot
    stays small however many there are."""
    found = rows.fetch_all(_newest_open_sql(model), [meeting_pk, SNAPSHOT_NOTICES])
    notices = [rows.instance(model, row) for row in reversed(found)]
    return notices, found[0][-1] if found else 0


@cache
def _newest_open_sql(model: type[CrisisAlert | MessageReport]) -> str:
    return (
        f"SELECT {rows.columns(model, 'n')}, COUNT(*) OVER ()"  # noqa: S608
        f' FROM "{model._meta.db_table}" n WHERE n.meeting_id = %s AND n.resolved_at IS NULL'
        " ORDER BY n.created_at DESC, n.id DESC LIMIT %s"
    )


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
    veterans = {pk for (pk,) in rows.fetch_all(_veterans_sql(), [meeting.circle_id, meeting.pk])}
    for entry in entries:
        entry["first_round"] = entry["membership_id"] not in veterans


@cache
def _veterans_sql() -> str:
    turn, round_, membership = (m._meta.db_table for m in (Turn, Round, Membership))
    return (
        f'SELECT DISTINCT t.membership_id FROM "{turn}" t'  # noqa: S608
        f' JOIN "{round_}" r ON r.id = t.round_id'
        f' JOIN "{membership}" ms ON ms.id = t.membership_id'
        f" WHERE ms.circle_id = %s AND ms.status = '{MembershipStatus.ACTIVE.value}'"
        " AND r.meeting_id <> %s"
    )


def _agenda(script: Script | None, steps: list[ScriptStep], *, notes: bool) -> dict | None:
    if script is None:
        return None
    items = []
    for step in steps:
        item = facilitation.step_payload(step) or {}
        if notes:
            item["notes"] = step.notes
        items.append(item)
    return {"id": script.pk, "name": script.name, "steps": items}


def _prompt_library(meeting) -> list[dict]:
    """Built-in prompts for this kind of circle plus the circle's own (library_filter),
    with when each was last used here (so the circle doesn't hear the same one every
    week)."""
    circle = meeting.circle
    found = rows.fetch_all(_prompts_sql(), [circle.pk, circle.kind, circle.pk])
    return [
        {
            "id": pk,
            "text": text,
            "strategy": strategy,
            "phase": phase,
            "depth": depth,
            "own": circle_id is not None,
            "last_used": rows.read_timestamp(last_used).isoformat() if last_used else None,
        }
        for pk, text, strategy, phase, depth, circle_id, last_used in found
    ]


@cache
def _prompts_sql() -> str:
    """library_filter, by hand: a facilitator's every connect reads the library."""
    prompt, use = Prompt._meta.db_table, PromptUse._meta.db_table
    return (
        "SELECT p.id, p.text, p.strategy, p.phase, p.depth, p.circle_id,"  # noqa: S608
        f' (SELECT MAX(u.used_at) FROM "{use}" u WHERE u.circle_id = %s AND u.prompt_id = p.id)'
        f' FROM "{prompt}" p'
        " WHERE (p.circle_id IS NULL AND p.kind IN (%s, 'both')) OR p.circle_id = %s"
        " ORDER BY p.phase, p.depth, p.id"
    )
