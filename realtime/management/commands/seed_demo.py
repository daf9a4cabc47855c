"""Demo data for trying Hearth locally. Idempotent: a second run finds everything
in place, creates nothing and prints the same logins.

Everything goes through the services (circle_create, membership_request/approve,
agreements_accept, meetings_generate, and the live room's own `meeting.open` command
through realtime.dispatch.perform),
so the demo obeys the same rules as real use.
"""

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from accounts.models import User
from groups import services
from groups.models import (
    Circle,
    CircleKind,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
    Role,
)
from realtime import protocol
from realtime.dispatch import perform
from room.context import Seat

DEMO_PASSWORD = "hearth-demo-passphrase"  # noqa: S105 (demo data, printed on purpose)
ADMIN_EMAIL = "admin@example.org"
LIVE_STARTED_MINUTES_AGO = 5


@dataclass(frozen=True)
class Person:
    email: str
    alias: str
    intention: str = ""


@dataclass(frozen=True)
class DemoCircle:
    name: str
    kind: str
    weekday: int
    start: dt.time
    description: str
    facilitator: Person
    members: tuple[Person, ...]
    waiting: tuple[Person, ...] = field(default=())


CIRCLES = (
    DemoCircle(
        name="Tuesday Evening Men",
        kind=CircleKind.MEN,
        weekday=1,
        start=dt.time(19, 30),
        description=(
            "A steady group of men meeting every Tuesday evening. Come as you are; "
            "listening is a fine way to start."
        ),
        facilitator=Person("facilitator@example.org", "Tom"),
        members=(
            Person("dan@example.org", "Dan", "Somewhere to say things out loud."),
            Person("marcus@example.org", "Marcus", "I don't know yet. My wife suggested it."),
            Person("theo@example.org", "Theo", "To feel less on my own with it."),
            Person("raj@example.org", "Raj", "Learning to talk before I snap."),
        ),
        waiting=(Person("newcomer@example.org", "Chris", "A friend said it helped him."),),
    ),
    DemoCircle(
        name="Thursday Partners Circle",
        kind=CircleKind.PARTNERS,
        weekday=3,
        start=dt.time(20, 0),
        description=(
            "For partners of men who find it hard to open up. Time for your own life, "
            "your needs and your limits."
        ),
        facilitator=Person("facilitator.partners@example.org", "Ruth"),
        members=(
            Person("jo@example.org", "Jo", "Some support of my own."),
            Person("priya@example.org", "Priya", "To stop carrying it all alone."),
            Person("elena@example.org", "Elena", "Boundaries, mostly."),
        ),
    ),
)


def welcome_member(
    *, circle: Circle, host: Membership, user: User, alias: str, intention: str = ""
) -> Membership:
    """Ask to join, be approved by the host and accept the agreements, as a person would
    through the pages; steps already taken are skipped. Also used by the benchmark."""
    membership = Membership.objects.filter(user=user, circle=circle).first()
    if membership is None:
        membership = services.membership_request(
            user=user, circle=circle, alias=alias, intention=intention
        )
    if membership.status == MembershipStatus.REQUESTED:
        membership = services.membership_approve(actor=host, membership=membership)
    membership = Membership.objects.select_related("circle").get(pk=membership.pk)
    if membership.status == MembershipStatus.ACTIVE and not membership.has_accepted_agreements:
        membership = services.agreements_accept(membership=membership)
    return membership


def live_meeting_now(*, circle: Circle, host: Membership) -> Meeting:
    """One meeting open now, started a few minutes ago, so the room can be tried at
    once. A live meeting from an earlier day is closed first. Also used by the
    benchmark (bench/provision.py) to open its meetings the same way."""
    now = timezone.now()

    def send(meeting: Meeting, command: protocol.Command) -> None:
        seat = Seat(
            meeting_pk=meeting.pk,
            membership_id=host.pk,
            user_id=host.user_id,
            is_facilitator=True,
        )
        perform(seat=seat, command=command, now=now)

    live = list(circle.meetings.filter(status=MeetingStatus.LIVE))
    current = [m for m in live if m.ends_at > now]
    if current:
        return current[0]
    for stale in live:
        send(stale, protocol.MeetingEnd())
    start = (now - dt.timedelta(minutes=LIVE_STARTED_MINUTES_AGO)).replace(second=0, microsecond=0)
    meeting, _ = Meeting.objects.get_or_create(
        circle=circle,
        starts_at=start,
        defaults={"ends_at": start + dt.timedelta(minutes=circle.duration_minutes)},
    )
    if meeting.status == MeetingStatus.SCHEDULED:
        send(meeting, protocol.MeetingOpen())
    return meeting


class Command(BaseCommand):
    help = "Create idempotent demo data: two circles, people, meetings, one open now."

    def handle(self, *args, **options) -> None:
        logins: list[tuple[str, str, str]] = []
        with transaction.atomic():
            self._admin()
            logins.append((ADMIN_EMAIL, "admin (Django admin at /admin/)", "-"))
            for spec in CIRCLES:
                circle, host = self._circle(spec)
                logins.append((spec.facilitator.email, "facilitator", circle.name))
                for person in spec.members:
                    self._member(circle, host, person)
                    logins.append((person.email, f"member “{person.alias}”", circle.name))
                for person in spec.waiting:
                    self._waiting(circle, person)
                    logins.append((person.email, "waiting for approval", circle.name))
                services.meetings_generate(circle=circle)
                live_meeting_now(circle=circle, host=host)
        self._print(logins)

    # People -------------------------------------------------------------------------

    def _user(self, email: str, *, host: bool = False) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, DEMO_PASSWORD)
        if host and not user.has_perm("groups.add_circle"):
            user.user_permissions.add(Permission.objects.get(codename="add_circle"))
            user = User.objects.get(pk=user.pk)  # drop the permission cache
        return user

    def _admin(self) -> None:
        if not User.objects.filter(email=ADMIN_EMAIL).exists():
            User.objects.create_superuser(ADMIN_EMAIL, DEMO_PASSWORD)

    # Circles ------------------------------------------------------------------------

    def _circle(self, spec: DemoCircle) -> tuple[Circle, Membership]:
        user = self._user(spec.facilitator.email, host=True)
        circle = Circle.objects.filter(slug=slugify(spec.name)).first()
        if circle is None:
            circle = services.circle_create(
                user=user,
                alias=spec.facilitator.alias,
                name=spec.name,
                kind=spec.kind,
                description=spec.description,
                weekday=spec.weekday,
                start_time=spec.start,
                time_zone="Europe/London",
                capacity=10,
                listed=True,
                region="GB",
            )
        host = Membership.objects.get(user=user, circle=circle)
        return circle, host

    def _member(self, circle: Circle, host: Membership, person: Person) -> None:
        welcome_member(
            circle=circle,
            host=host,
            user=self._user(person.email),
            alias=person.alias,
            intention=person.intention,
        )

    def _waiting(self, circle: Circle, person: Person) -> None:
        user = self._user(person.email)
        if not Membership.objects.filter(user=user, circle=circle).exists():
            services.membership_request(
                user=user, circle=circle, alias=person.alias, intention=person.intention
            )

    # Meetings -----------------------------------------------------------------------

    # Output -------------------------------------------------------------------------

    def _print(self, logins: list[tuple[str, str, str]]) -> None:
        circles = Circle.objects.filter(slug__in=[slugify(c.name) for c in CIRCLES])
        now = timezone.now()
        upcoming = Meeting.objects.filter(
            circle__in=circles, status=MeetingStatus.SCHEDULED, starts_at__gt=now
        ).count()
        live = Meeting.objects.filter(circle__in=circles, status=MeetingStatus.LIVE).count()
        members = Membership.objects.filter(
            circle__in=circles, status=MembershipStatus.ACTIVE, role=Role.MEMBER
        ).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {circles.count()} circles, {members} members, "
                f"{live} meetings open now, {upcoming} upcoming."
            )
        )
        self.stdout.write("")
        self.stdout.write(f"Every demo login uses the password: {DEMO_PASSWORD}")
        self.stdout.write("")
        width = max(len(email) for email, _, _ in logins)
        role_width = max(len(role) for _, role, _ in logins)
        self.stdout.write(f"{'email'.ljust(width)}  {'role'.ljust(role_width)}  circle")
        for email, role, circle in logins:
            self.stdout.write(f"{email.ljust(width)}  {role.ljust(role_width)}  {circle}")
