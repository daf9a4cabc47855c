"""Reads for the circle pages: a fixed, small number of queries per page, whatever
the number of circles or members (select_related and annotations, never a query per row).

Nothing read here for a page about other people loads their user row: inside a
circle a person is their alias, and their email never leaves the accounts table.
"""

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Q
from django.http import Http404
from django.utils import timezone

from .models import (
    CURRENT_STATUSES,
    Circle,
    CircleKind,
    Invite,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
    Role,
)
from .schedule import weekly_starts

# Meetings further away than this are not "next" on the dashboard.
DASHBOARD_HORIZON = dt.timedelta(days=15)


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def viewer_zone(*, user, circle: Circle | None = None) -> str:
    """The zone meeting times are shown in: the viewer's own if set, else the circle's."""
    own = getattr(user, "time_zone", "") if user is not None and user.is_authenticated else ""
    if own and own in _known_zones():
        return own
    if circle is not None:
        return circle.time_zone
    return settings.TIME_ZONE


def next_start(*, circle: Circle, now: dt.datetime | None = None) -> dt.datetime:
    """The circle's next weekly start, computed from its schedule (no query)."""
    now = now or timezone.now()
    return weekly_starts(
        weekday=circle.weekday,
        start_time=circle.start_time,
        time_zone=circle.time_zone,
        after=now,
        weeks=1,
    )[0]


# Dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MyCircle:
    membership: Membership
    next_meeting: Meeting | None


@dataclass(frozen=True)
class Dashboard:
    circles: list[MyCircle]
    pending: list[Membership]
    to_handle: list[Membership]


def dashboard_for(*, user, now: dt.datetime | None = None) -> Dashboard:
    """Three queries: my memberships, the next meeting of each, requests I handle."""
    now = now or timezone.now()
    mine = list(
        Membership.objects.filter(user=user, status__in=CURRENT_STATUSES)
        .select_related("circle")
        .order_by("circle__name")
    )
    active = [m for m in mine if m.status == MembershipStatus.ACTIVE]
    next_by_circle: dict[int, Meeting] = {}
    if active:
        meetings = Meeting.objects.filter(
            Q(status=MeetingStatus.LIVE)
            | Q(
                status=MeetingStatus.SCHEDULED,
                ends_at__gt=now,
                starts_at__lt=now + DASHBOARD_HORIZON,
            ),
            circle_id__in=[m.circle_id for m in active],
        ).order_by("starts_at")
        # A live meeting beats a scheduled one: it is the one to walk into now.
        for meeting in sorted(
            meetings, key=lambda m: (m.status != MeetingStatus.LIVE, m.starts_at)
        ):
            next_by_circle.setdefault(meeting.circle_id, meeting)
    facilitated = [m.circle_id for m in active if m.role == Role.FACILITATOR]
    to_handle = (
        list(
            Membership.objects.filter(circle_id__in=facilitated, status=MembershipStatus.REQUESTED)
            .select_related("circle")
            .order_by("created_at")
        )
        if facilitated
        else []
    )
    return Dashboard(
        circles=[
            MyCircle(membership=m, next_meeting=next_by_circle.get(m.circle_id)) for m in active
        ],
        pending=[m for m in mine if m.status == MembershipStatus.REQUESTED],
        to_handle=to_handle,
    )


# Directory and public info ----------------------------------------------------------------


@dataclass(frozen=True)
class CircleListing:
    circle: Circle
    seats_left: int
    next_start: dt.datetime
    my_status: str | None  # the viewer's current membership status, if any


def _with_member_count(queryset):
    return queryset.annotate(
        member_count=Count(
            "memberships",
            filter=Q(memberships__status=MembershipStatus.ACTIVE, memberships__role=Role.MEMBER),
        )
    )


def directory(*, user, now: dt.datetime | None = None) -> dict[str, list[CircleListing]]:
    """Listed circles by kind (men's first). Two queries."""
    now = now or timezone.now()
    mine: dict[int, str] = {}
    if user is not None and user.is_authenticated:
        mine = dict(
            Membership.objects.filter(user=user, status__in=CURRENT_STATUSES).values_list(
                "circle_id", "status"
            )
        )
    by_kind: dict[str, list[CircleListing]] = {kind: [] for kind in CircleKind.values}
    for circle in _with_member_count(Circle.objects.filter(listed=True)).order_by("name"):
        by_kind[circle.kind].append(
            CircleListing(
                circle=circle,
                seats_left=max(circle.capacity - circle.member_count, 0),
                next_start=next_start(circle=circle, now=now),
                my_status=mine.get(circle.pk),
            )
        )
    return by_kind


def seats_left(*, circle: Circle) -> int:
    members = Membership.objects.filter(
        circle=circle, status=MembershipStatus.ACTIVE, role=Role.MEMBER
    ).count()
    return max(circle.capacity - members, 0)


def own_membership(*, user, circle: Circle) -> Membership | None:
    """The viewer's membership row for this circle, whatever its status."""
    if user is None or not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, circle=circle).first()


def own_current_membership(*, user, slug: str) -> Membership:
    """The viewer's requested or active membership of a circle, or 404 (leave, withdraw)."""
    membership = (
        Membership.objects.select_related("circle")
        .filter(user=user, circle__slug=slug, status__in=CURRENT_STATUSES)
        .first()
    )
    if membership is None:
        raise Http404("No such circle.")
    return membership


# A circle's own pages ---------------------------------------------------------------------


def circle_members(*, circle: Circle) -> list[Membership]:
    """Active members, facilitators first. Aliases only: the user rows are not loaded."""
    return list(
        Membership.objects.filter(circle=circle, status=MembershipStatus.ACTIVE)
        .only("id", "alias", "role", "status", "intention", "circle_id", "user_id")
        .order_by("role", "alias")  # "facilitator" sorts before "member"
    )


def upcoming_meetings(
    *, circle: Circle, now: dt.datetime | None = None, limit: int = 4
) -> list[Meeting]:
    now = now or timezone.now()
    return list(
        Meeting.objects.filter(circle=circle)
        .filter(Q(status=MeetingStatus.LIVE) | Q(status=MeetingStatus.SCHEDULED, ends_at__gt=now))
        .order_by("starts_at")[:limit]
    )


def pending_requests(*, circle: Circle) -> list[Membership]:
    return list(
        Membership.objects.filter(circle=circle, status=MembershipStatus.REQUESTED).order_by(
            "created_at"
        )
    )


def usable_invites(*, circle: Circle, now: dt.datetime | None = None) -> list[Invite]:
    now = now or timezone.now()
    return list(
        Invite.objects.filter(circle=circle, revoked_at__isnull=True, expires_at__gt=now)
        .select_related("created_by")
        .order_by("-created_at")
    )


def circle_membership(*, circle: Circle, membership_id: int) -> Membership:
    """A membership of this circle, by id, for a facilitator's action; 404 otherwise."""
    membership = (
        Membership.objects.select_related("circle").filter(pk=membership_id, circle=circle).first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership


def circle_invite(*, circle: Circle, invite_id: int) -> Invite:
    invite = Invite.objects.select_related("circle").filter(pk=invite_id, circle=circle).first()
    if invite is None:
        raise Http404("No such invite.")
    return invite


def meeting_circle(*, meeting_id) -> Circle | None:
    meeting = Meeting.objects.select_related("circle").filter(public_id=meeting_id).first()
    return meeting.circle if meeting else None
