"""Small factories for tests: real rows through the real services where a rule is
involved, so tests build state the way the product does."""

import datetime as dt
import itertools

from django.contrib.auth.models import Permission
from django.utils import timezone

from accounts.models import User
from groups import services
from groups.models import Circle, CircleKind, Meeting, MeetingStatus, Membership

_counter = itertools.count(1)
PASSWORD = "a-long-test-passphrase-42"  # noqa: S105


def make_user(*, email: str | None = None, host: bool = False, **extra) -> User:
    n = next(_counter)
    user = User.objects.create_user(email or f"person{n}@example.org", PASSWORD, **extra)
    if host:
        user.user_permissions.add(Permission.objects.get(codename="add_circle"))
        user = User.objects.get(pk=user.pk)  # drop the permission cache
    return user


def make_circle(
    *,
    facilitator: User | None = None,
    kind: str = CircleKind.MEN,
    name: str | None = None,
    capacity: int = 10,
    listed: bool = True,
    **fields,
) -> Circle:
    facilitator = facilitator or make_user(host=True)
    n = next(_counter)
    fields.setdefault("weekday", 2)
    fields.setdefault("start_time", dt.time(19, 30))
    fields.setdefault("time_zone", "Europe/London")
    return services.circle_create(
        user=facilitator,
        alias=fields.pop("facilitator_alias", f"Host {n}"),
        name=name or f"Circle {n}",
        kind=kind,
        capacity=capacity,
        listed=listed,
        **fields,
    )


def facilitator_of(circle: Circle) -> Membership:
    facilitator = circle.memberships.filter(role="facilitator", status="active").first()
    assert facilitator is not None, "every circle made here has an active facilitator"
    return facilitator


def make_member(
    circle: Circle, *, user: User | None = None, alias: str | None = None, accepted: bool = True
) -> Membership:
    """An active member, approved by the circle's facilitator, agreements accepted."""
    user = user or make_user()
    membership = services.membership_request(
        user=user, circle=circle, alias=alias or f"Member {next(_counter)}", intention="To listen."
    )
    membership = services.membership_approve(actor=facilitator_of(circle), membership=membership)
    if accepted:
        membership = services.agreements_accept(membership=membership)
    return membership


def make_meeting(circle: Circle, *, status: str = MeetingStatus.LIVE, **fields) -> Meeting:
    start = fields.pop("starts_at", timezone.now() - dt.timedelta(minutes=5))
    meeting = Meeting.objects.create(
        circle=circle,
        starts_at=start,
        ends_at=start + dt.timedelta(minutes=circle.duration_minutes),
        status=status,
        opened_at=timezone.now() if status == MeetingStatus.LIVE else None,
        **fields,
    )
    return meeting


TEST_PROCESS = "tests-process"


def enter_room(membership, meeting, now=None):
    """presence.room_enter as a consumer calls it: for a socket of this test process."""
    from realtime import presence
    from room.models import ServerProcess

    ServerProcess.objects.update_or_create(
        id=TEST_PROCESS,
        defaults={
            "started_at": timezone.now(),
            "lease_until": timezone.now() + dt.timedelta(hours=1),
        },
    )
    return presence.room_enter(
        user=membership.user, meeting_id=str(meeting.public_id), process_id=TEST_PROCESS, now=now
    )
