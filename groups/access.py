"""Who may see and do what, decided in one place.

Every view and service asks here. To an outsider, "no such circle" and "not yours to
see" look the same (404): a circle's pages never confirm it exists. Entering a live
meeting is asked of room.access.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _

from .models import Circle, Membership, MembershipStatus, Role


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


def lock_circle_as_facilitator(*, actor: Membership, circle: Circle) -> Circle:
    """The circle, locked, after checking the actor as the database has him now: a
    facilitator removed (or gone) since the page loaded can no longer act. Services
    that change a circle or its library start here."""
    locked = Circle.objects.select_for_update().get(pk=circle.pk)
    current = Membership.objects.select_related("circle").filter(pk=actor.pk).first()
    if current is None:
        raise PermissionDenied(_("Only the circle's facilitators can do that."))
    require_facilitator(actor=current, circle=locked)
    return locked


def require_facilitator(*, actor: Membership, circle: Circle) -> None:
    """Services call this with the actor's membership, freshly read."""
    if actor.circle_id != circle.pk or not actor.is_facilitator:
        raise PermissionDenied(_("Only the circle's facilitators can do that."))
