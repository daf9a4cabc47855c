"""Who may see and do what, decided in one place.

Every view, consumer and service asks here. To an outsider, "no such circle" and
"not yours to see" look the same (404): a circle's pages never confirm it exists.
The live room distinguishes refusals only by the close codes the protocol defines.
"""

import uuid

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Circle, Meeting, MeetingStatus, Membership, MembershipStatus, Role


class AccessDenied(Exception):
    """Refused. `code` is the websocket close code the protocol defines for it."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


NOT_LOGGED_IN = 4401
NOT_ALLOWED = 4403
NOT_FOUND = 4404
ENDED = 4410


def active_membership(*, user, circle: Circle) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.select_related("circle")
        .filter(user=user, circle=circle, status=MembershipStatus.ACTIVE)
        .first()
    )


def access_circle(*, user, slug: str) -> tuple[Circle, Membership]:
    """The circle's own pages: active members and facilitators only; everyone else 404."""
    circle = Circle.objects.filter(slug=slug).first()
    membership = active_membership(user=user, circle=circle) if circle else None
    if circle is None or membership is None:
        raise Http404("No such circle.")
    return circle, membership


def access_circle_as_facilitator(*, user, slug: str) -> tuple[Circle, Membership]:
    circle, membership = access_circle(user=user, slug=slug)
    if membership.role != Role.FACILITATOR:
        raise Http404("No such circle.")
    return circle, membership


def access_listed_circle(*, slug: str) -> Circle:
    """The public face of a listed circle (directory and join page)."""
    circle = Circle.objects.filter(slug=slug, listed=True).first()
    if circle is None:
        raise Http404("No such circle.")
    return circle


def access_meeting(*, user, meeting_id: str | uuid.UUID, allow_ended: bool = False) -> Membership:
    """Membership of the person entering a meeting, or AccessDenied with its close code.

    Allowed: active facilitators, and active members who accepted the circle's current
    agreements. Called at connect and again for every frame.
    """
    if user is None or not user.is_authenticated:
        raise AccessDenied(NOT_LOGGED_IN, "Please log in.")
    try:
        public_id = uuid.UUID(str(meeting_id))
    except ValueError:
        raise AccessDenied(NOT_FOUND, "No such meeting.") from None
    meeting = Meeting.objects.select_related("circle").filter(public_id=public_id).first()
    if meeting is None:
        raise AccessDenied(NOT_FOUND, "No such meeting.")
    membership = (
        Membership.objects.select_related("circle", "user")
        .filter(user=user, circle_id=meeting.circle_id, status=MembershipStatus.ACTIVE)
        .first()
    )
    if membership is None:
        raise AccessDenied(NOT_ALLOWED, "This meeting is for the circle's members.")
    membership.circle = meeting.circle
    if membership.role != Role.FACILITATOR and not membership.has_accepted_agreements:
        raise AccessDenied(NOT_ALLOWED, "Please accept the circle's agreements first.")
    if meeting.status == MeetingStatus.ENDED and not allow_ended:
        raise AccessDenied(ENDED, "This meeting has ended.")
    membership.meeting = meeting  # type: ignore[attr-defined]
    return membership


def require_facilitator(*, actor: Membership, circle: Circle) -> None:
    """Services call this with the actor's membership, freshly read."""
    if actor.circle_id != circle.pk or not actor.is_facilitator:
        raise PermissionDenied("Only the circle's facilitators can do that.")
