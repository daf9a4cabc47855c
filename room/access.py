"""Who may enter a meeting: asked by the room page, at connect, and (through
room.context.acting_member) again for every action."""

import uuid

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from groups.models import Meeting, MeetingStatus, Membership, MembershipStatus, Role

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
    meeting = Meeting.objects.select_related("circle").filter(public_id=public_id).first()
    if meeting is None:
        raise AccessDenied(CloseCode.NOT_FOUND, "No such meeting.")
    membership = (
        Membership.objects.select_related("circle", "user")
        .filter(user=user, circle_id=meeting.circle_id, status=MembershipStatus.ACTIVE)
        .first()
    )
    if membership is None:
        raise AccessDenied(CloseCode.NOT_ALLOWED, "This meeting is for the circle's members.")
    membership.circle = meeting.circle
    if membership.role != Role.FACILITATOR and not membership.has_accepted_agreements:
        raise AccessDenied(CloseCode.NOT_ALLOWED, "Please accept the circle's agreements first.")
    if meeting.status == MeetingStatus.ENDED and not allow_ended:
        raise AccessDenied(CloseCode.ENDED, "This meeting has ended.")
    return membership, meeting
