"""Who may enter a meeting: asked by the room page, at connect, and (through
room.context.acting_member) again for every action."""

import uuid
from functools import cache

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from groups.models import Circle, Meeting, MeetingStatus, Membership, MembershipStatus, Role

from . import rows
from .errors import AccessDenied, CloseCode


def access_meeting(
    *,
    user: User | AnonymousUser | None,
    meeting_id: str | uuid.UUID,
    allow_ended: bool = False,
) -> tuple[Membership, Meeting]:
    """The membership of the person entering a meeting, and the meeting; or
    AccessDenied with its close code.

    Allowed: active facilitators, and active members who accepted the circle's current
    agreements. An outsider can't tell "no such meeting" from "not yours" but by code.
    """
    if user is None or not user.is_authenticated:
        raise AccessDenied(CloseCode.NOT_LOGGED_IN, "Please log in.")
    try:
        public_id = uuid.UUID(str(meeting_id))
    except ValueError:
        raise AccessDenied(CloseCode.NOT_FOUND, "No such meeting.") from None
    row = rows.fetch_one(
        _access_sql(),
        [user.pk, MembershipStatus.ACTIVE, rows.param(Meeting, "public_id", public_id)],
    )
    if row is None:
        raise AccessDenied(CloseCode.NOT_FOUND, "No such meeting.")
    meeting = rows.instance(Meeting, row)
    meeting.circle = rows.instance(Circle, row, rows.width(Meeting))
    if row[-1] is None:  # no active membership joined
        raise AccessDenied(CloseCode.NOT_ALLOWED, "This meeting is for the circle's members.")
    membership = rows.instance(Membership, row, rows.width(Meeting) + rows.width(Circle))
    membership.circle = meeting.circle
    if isinstance(user, User):
        membership.user = user
    if membership.role != Role.FACILITATOR and not membership.has_accepted_agreements:
        raise AccessDenied(CloseCode.NOT_ALLOWED, "Please accept the circle's agreements first.")
    if meeting.status == MeetingStatus.ENDED and not allow_ended:
        raise AccessDenied(CloseCode.ENDED, "This meeting has ended.")
    return membership, meeting


@cache
def _access_sql() -> str:
    """The meeting, its circle and the person's active membership in it, if any: one
    statement, by hand (room.rows), since every connect runs it."""
    meeting, circle, membership = (m._meta.db_table for m in (Meeting, Circle, Membership))
    return (
        f"SELECT {rows.columns(Meeting, 'm')}, {rows.columns(Circle, 'c')},"  # noqa: S608
        f" {rows.columns(Membership, 'ms')}, ms.id"
        f' FROM "{meeting}" m JOIN "{circle}" c ON c.id = m.circle_id'
        f' LEFT JOIN "{membership}" ms ON ms.circle_id = m.circle_id'
        " AND ms.user_id = %s AND ms.status = %s"
        " WHERE m.public_id = %s ORDER BY ms.id LIMIT 1"
    )
