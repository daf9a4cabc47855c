"""Circles, who belongs to them, and their weekly meetings.

Invariants (enforced by groups.services, backed by constraints where the database can):
- a person has at most one membership row per circle (re-joining reuses it);
- aliases are unique within a circle among current members (requested or active);
- a circle never has more active members than its capacity (facilitators not counted);
- a person is never a member of a men's circle and a partner circle at the same time.
"""

import uuid
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .regions import REGION_CHOICES

MAX_CAPACITY = 15


def validate_time_zone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            _("“%(value)s” is not a time zone we know. Try a name like Europe/London."),
            params={"value": value},
            code="invalid_time_zone",
        )


class CircleKind(models.TextChoices):
    MEN = "men", _("Men's circle")
    PARTNERS = "partners", _("Partner circle")


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


DEFAULT_AGREEMENTS = {
    CircleKind.MEN: _(
        "What is said here stays here. We don't repeat anyone's story outside the circle, "
        "and we don't name the people in it.\n"
        "During a round, one man speaks and the rest of us listen. No advice, no fixing, "
        "no “me too” stories while it's someone else's turn.\n"
        "Passing is always fine. You can say “pass” at any turn, no reason needed.\n"
        "We speak for ourselves, with respect, and we give each other room to not know "
        "yet.\n"
        "If you're worried about your own safety or someone else's, tell a facilitator."
    ),
    CircleKind.PARTNERS: _(
        "What is said here stays here. We don't repeat anyone's story outside the circle, "
        "and nothing said here reaches any men's circle.\n"
        "During a round, one person speaks and the rest of us listen. No advice, no "
        "fixing, no cross-talk while it's someone else's turn.\n"
        "Passing is always fine. You can say “pass” at any turn, no reason needed.\n"
        "This is a space for your own life and needs. We speak with respect, about "
        "ourselves, and we don't judge anyone's choices.\n"
        "If you're worried about your own safety or someone else's, tell a facilitator."
    ),
}


class Circle(models.Model):
    name = models.CharField(_("name"), max_length=80)
    slug = models.SlugField(_("web address"), max_length=80, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=CircleKind.choices)
    description = models.TextField(_("description"), blank=True, max_length=2000)
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=Weekday.choices)
    start_time = models.TimeField(_("start time (local)"))
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="Europe/London", validators=[validate_time_zone]
    )
    duration_minutes = models.PositiveSmallIntegerField(
        _("length in minutes"),
        default=90,
        validators=[MinValueValidator(15), MaxValueValidator(240)],
    )
    capacity = models.PositiveSmallIntegerField(
        _("seats"),
        default=10,
        validators=[MinValueValidator(2), MaxValueValidator(MAX_CAPACITY)],
        help_text=_("How many members the circle takes, facilitators not counted (at most 15)."),
    )
    listed = models.BooleanField(
        _("listed in the directory"),
        default=True,
        help_text=_("Unlisted circles are found only through an invite link."),
    )
    call_link = models.URLField(
        _("call link"),
        blank=True,
        help_text=_("Optional: the video or phone call the circle meets on."),
    )
    region = models.CharField(
        _("region"),
        max_length=8,
        choices=REGION_CHOICES,
        default="GB",
        help_text=_("Whose help lines the circle shows."),
    )
    agreements = models.TextField(_("agreements"), max_length=5000)
    agreements_updated_at = models.DateTimeField(default=timezone.now)
    default_script = models.ForeignKey(
        "facilitation.Script",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("default agenda"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(capacity__gte=2, capacity__lte=MAX_CAPACITY),
                name="circle_capacity_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=CircleKind.values), name="circle_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def tzinfo(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


class Role(models.TextChoices):
    FACILITATOR = "facilitator", _("Facilitator")
    MEMBER = "member", _("Member")


class MembershipStatus(models.TextChoices):
    REQUESTED = "requested", _("Asked to join")
    ACTIVE = "active", _("Active")
    DECLINED = "declined", _("Not this time")
    LEFT = "left", _("Left")
    REMOVED = "removed", _("Removed")


CURRENT_STATUSES = (MembershipStatus.REQUESTED, MembershipStatus.ACTIVE)


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    circle = models.ForeignKey(Circle, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    status = models.CharField(
        max_length=16, choices=MembershipStatus.choices, default=MembershipStatus.REQUESTED
    )
    alias = models.CharField(
        _("name in the circle"),
        max_length=40,
        help_text=_("What the circle calls you. It doesn't have to be your real name."),
    )
    intention = models.TextField(
        _("what you want from the circle"),
        max_length=1000,
        blank=True,
        help_text=_("Your own reason for coming. Only you and the facilitators see it."),
    )
    agreements_accepted_at = models.DateTimeField(null=True, blank=True)
    muted_until = models.DateTimeField(null=True, blank=True)
    invited = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "circle"], name="membership_once_per_circle"),
            models.UniqueConstraint(
                Lower("alias"),
                "circle",
                condition=models.Q(status__in=["requested", "active"]),
                name="membership_alias_unique_in_circle",
                violation_error_message=_("Someone in this circle already uses that name."),
            ),
        ]
        indexes = [models.Index(fields=["circle", "status"])]

    def __str__(self) -> str:
        return f"{self.alias} in {self.circle}"

    @property
    def is_active(self) -> bool:
        return self.status == MembershipStatus.ACTIVE

    @property
    def is_facilitator(self) -> bool:
        return self.role == Role.FACILITATOR and self.is_active

    @property
    def has_accepted_agreements(self) -> bool:
        accepted = self.agreements_accepted_at
        return accepted is not None and accepted >= self.circle.agreements_updated_at


class Invite(models.Model):
    """A link that lets someone find an unlisted circle and join without waiting for
    approval. Unguessable, revocable, and it expires."""

    circle = models.ForeignKey(Circle, on_delete=models.CASCADE, related_name="invites")
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(Membership, on_delete=models.SET_NULL, null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Invite to {self.circle}"

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and self.expires_at > now


class MeetingStatus(models.TextChoices):
    SCHEDULED = "scheduled", _("Scheduled")
    LIVE = "live", _("Live")
    ENDED = "ended", _("Ended")


class Meeting(models.Model):
    """One weekly meeting. Its event log (room.MeetingEvent) numbers events 1, 2, 3 …:
    room.log allocates the next seq with this row locked, so there are no gaps or repeats."""

    # Not a column: the newest seq, read by room.log.lock_meeting once the row is locked.
    newest_seq: int

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    circle = models.ForeignKey(Circle, on_delete=models.CASCADE, related_name="meetings")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    opened_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Live talking order, changed only with this row locked (facilitation.services).
    # The queue is small (a dozen people at most) and always replaced whole.
    queue = models.JSONField(default=list, blank=True)
    floor_holder = models.ForeignKey(
        "Membership", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    talking_piece = models.BooleanField(default=False)
    progressive = models.BooleanField(default=False)
    script = models.ForeignKey(
        "facilitation.Script", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    current_step = models.ForeignKey(
        "facilitation.ScriptStep",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    step_started_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["circle", "starts_at"], name="meeting_once_per_slot"),
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")), name="meeting_ends_after"
            ),
        ]
        indexes = [models.Index(fields=["circle", "status", "starts_at"])]

    def __str__(self) -> str:
        return f"{self.circle} on {self.starts_at:%Y-%m-%d %H:%M}"


class Attendance(models.Model):
    """Who came to a meeting: the first join and the last leave."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendances")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="attendances")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["meeting", "membership"], name="attendance_once_per_meeting"
            )
        ]

    def __str__(self) -> str:
        return f"{self.membership} at {self.meeting}"
