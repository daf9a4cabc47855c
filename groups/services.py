"""Every change to circles, memberships, invites and meetings goes through here.

Each service takes keyword arguments, checks the rule it owns, and raises
`CircleRuleError` (a ValidationError, so forms show it as is) when a rule says no.
Services that can race (joining a full circle, the men/partner separation) lock the
circle row, then the user row: always in that order.
"""

import datetime as dt
import secrets

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import User

from . import signals
from .access import lock_circle_as_facilitator, require_facilitator
from .models import (
    CURRENT_STATUSES,
    DEFAULT_AGREEMENTS,
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


class CircleRuleError(ValidationError):
    """A rule of the circle said no; the message is written for the person."""


CIRCLE_FIELDS = (
    "name",
    "kind",
    "description",
    "weekday",
    "start_time",
    "time_zone",
    "duration_minutes",
    "capacity",
    "listed",
    "call_link",
    "region",
    "agreements",
)
SCHEDULE_FIELDS = ("weekday", "start_time", "time_zone", "duration_minutes")


def default_agreements(kind: str) -> str:
    return str(DEFAULT_AGREEMENTS[CircleKind(kind)])


def _unique_slug(name: str) -> str:
    base = slugify(name)[:60] or "circle"
    slug, n = base, 2
    while Circle.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


def _clean_alias(alias: str) -> str:
    alias = " ".join((alias or "").split())
    if not alias:
        raise CircleRuleError(_("Please choose a name for the circle to call you."), "alias")
    if len(alias) > 40:
        raise CircleRuleError(_("Please keep your circle name to 40 characters."), "alias")
    return alias


def _ensure_alias_free(*, circle: Circle, alias: str, exclude: Membership | None = None) -> None:
    taken = Membership.objects.filter(
        circle=circle, alias__iexact=alias, status__in=CURRENT_STATUSES
    )
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise CircleRuleError(
            _("Someone in this circle already uses the name “%(alias)s”. Please pick another.")
            % {"alias": alias},
            "alias_taken",
        )


def _ensure_seat(circle: Circle) -> None:
    """Called with the circle row locked."""
    members = Membership.objects.filter(
        circle=circle, status=MembershipStatus.ACTIVE, role=Role.MEMBER
    ).count()
    if members >= circle.capacity:
        raise CircleRuleError(
            _("This circle is full right now (%(capacity)s seats).")
            % {"capacity": circle.capacity},
            "circle_full",
        )


def _ensure_worlds_apart(*, user: User, circle: Circle) -> None:
    """Men's circles and partner circles never share a member. Facilitators may serve
    both kinds; this rule is about members. Called with the user row locked."""
    other = (
        Membership.objects.filter(user=user, role=Role.MEMBER, status__in=CURRENT_STATUSES)
        .exclude(circle__kind=circle.kind)
        .select_related("circle")
        .first()
    )
    if other is not None:
        raise CircleRuleError(
            _(
                "You're already part of a %(other)s. Men's circles and partner circles are "
                "kept completely separate, so that nothing said in one can reach the "
                "other: to join this one, please leave “%(name)s” first."
            )
            % {"other": other.circle.get_kind_display().lower(), "name": other.circle.name},
            "separate_worlds",
        )


def _ensure_another_facilitator(*, membership: Membership, message: str) -> None:
    """A circle always keeps an active facilitator. Called with the circle row locked,
    so two facilitators stepping away at once can't both pass."""
    others = Membership.objects.filter(
        circle_id=membership.circle_id, role=Role.FACILITATOR, status=MembershipStatus.ACTIVE
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise CircleRuleError(message, "last_facilitator")


def _lock_circle(circle: Circle) -> Circle:
    return Circle.objects.select_for_update().get(pk=circle.pk)


def _lock_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def _require_facilitator_now(*, actor: Membership, circle: Circle) -> Membership:
    """The actor's membership as the database has it now, not as the caller read it:
    a facilitator removed (or gone) since the page loaded can no longer act."""
    current = Membership.objects.select_related("circle").filter(pk=actor.pk).first()
    if current is None:
        raise PermissionDenied(_("Only the circle's facilitators can do that."))
    require_facilitator(actor=current, circle=circle)
    return current


# Circles ---------------------------------------------------------------------------


@transaction.atomic
def circle_create(*, user: User, alias: str, **fields: object) -> Circle:
    """A person with the facilitator permission opens a circle and becomes its first
    facilitator."""
    if not user.can_host_circles:
        raise PermissionDenied(_("Creating circles needs the facilitator permission."))
    data = {k: v for k, v in fields.items() if k in CIRCLE_FIELDS}
    if not data.get("agreements"):
        data["agreements"] = default_agreements(str(data["kind"]))
    circle = Circle(slug=_unique_slug(str(data["name"])), **data)
    circle.full_clean()
    circle.save()
    now = timezone.now()
    Membership.objects.create(
        user=user,
        circle=circle,
        role=Role.FACILITATOR,
        status=MembershipStatus.ACTIVE,
        alias=_clean_alias(alias),
        agreements_accepted_at=now,
    )
    meetings_generate(circle=circle, now=now)
    return circle


@transaction.atomic
def circle_update(*, actor: Membership, circle: Circle, **fields: object) -> Circle:
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    before = {name: getattr(circle, name) for name in CIRCLE_FIELDS}
    for name, value in fields.items():
        if name in CIRCLE_FIELDS:
            setattr(circle, name, value)
    if not circle.agreements:
        circle.agreements = default_agreements(circle.kind)
    # Validate (and convert) the values first, so the rules below compare like with like.
    circle.full_clean()
    if circle.kind != before["kind"] and circle.memberships.filter(role=Role.MEMBER).exists():
        raise CircleRuleError(
            _("A circle with members can't change kind: men's and partner circles stay apart."),
            "kind_locked",
        )
    active_members = circle.memberships.filter(
        status=MembershipStatus.ACTIVE, role=Role.MEMBER
    ).count()
    if circle.capacity < active_members:
        raise CircleRuleError(
            _("The circle has %(n)s members; seats can't go below that.") % {"n": active_members},
            "capacity_below_members",
        )
    if circle.agreements != before["agreements"]:
        # Changed agreements are accepted again by everyone before they next enter.
        circle.agreements_updated_at = timezone.now()
        circle.memberships.filter(role=Role.FACILITATOR).update(
            agreements_accepted_at=circle.agreements_updated_at
        )
    circle.save()
    if circle.agreements != before["agreements"]:
        signals.agreements_changed.send(sender=Circle, circle=circle)
    if any(getattr(circle, name) != before[name] for name in SCHEDULE_FIELDS):
        meetings_reschedule(circle=circle)
    return circle


# Memberships -------------------------------------------------------------------------


@transaction.atomic
def membership_request(
    *,
    user: User,
    circle: Circle,
    alias: str,
    intention: str = "",
    invite: Invite | None = None,
) -> Membership:
    """Ask to join. With a usable invite the request is approved at once: the
    facilitator already chose this person by sending the link."""
    circle = _lock_circle(circle)
    user = _lock_user(user)
    alias = _clean_alias(alias)
    if invite is not None:
        # Read again under the circle lock: the caller's copy may predate a revocation.
        invite = Invite.objects.filter(pk=invite.pk).first()
        if invite is None or invite.circle_id != circle.pk or not invite.is_usable():
            raise CircleRuleError(_("This invite link has expired or was withdrawn."), "invite")
    if not circle.listed and invite is None:
        raise CircleRuleError(_("This circle takes new members by invitation."), "unlisted")
    existing = Membership.objects.filter(user=user, circle=circle).first()
    if existing is not None and existing.status in CURRENT_STATUSES:
        raise CircleRuleError(_("You've already asked to join this circle."), "already")
    if existing is not None and existing.status == MembershipStatus.REMOVED:
        raise CircleRuleError(
            _("A facilitator removed you from this circle. Please talk to them first."),
            "removed",
        )
    _ensure_worlds_apart(user=user, circle=circle)
    _ensure_alias_free(circle=circle, alias=alias, exclude=existing)
    _ensure_seat(circle)
    membership = existing or Membership(user=user, circle=circle)
    membership.role = Role.MEMBER
    membership.alias = alias
    membership.intention = (intention or "").strip()[:1000]
    membership.invited = invite is not None
    membership.status = MembershipStatus.ACTIVE if invite else MembershipStatus.REQUESTED
    membership.agreements_accepted_at = None
    membership.save()
    return membership


def _facilitator_changes(actor: Membership, membership: Membership) -> Membership:
    """Lock order: circle, then the membership. Re-reads both."""
    circle = _lock_circle(membership.circle)
    actor = Membership.objects.select_related("circle").get(pk=actor.pk)
    require_facilitator(actor=actor, circle=circle)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    membership.circle = circle
    return membership


@transaction.atomic
def membership_approve(*, actor: Membership, membership: Membership) -> Membership:
    membership = _facilitator_changes(actor, membership)
    if membership.status != MembershipStatus.REQUESTED:
        raise CircleRuleError(_("That request was already handled."), "not_requested")
    _ensure_worlds_apart(user=_lock_user(membership.user), circle=membership.circle)
    _ensure_seat(membership.circle)
    membership.status = MembershipStatus.ACTIVE
    membership.save(update_fields=["status", "updated_at"])
    return membership


@transaction.atomic
def membership_decline(*, actor: Membership, membership: Membership) -> Membership:
    membership = _facilitator_changes(actor, membership)
    if membership.status != MembershipStatus.REQUESTED:
        raise CircleRuleError(_("That request was already handled."), "not_requested")
    membership.status = MembershipStatus.DECLINED
    membership.save(update_fields=["status", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, actor: Membership, membership: Membership) -> Membership:
    """Also lets him out of any meeting he is in right now (groups.signals)."""
    signals.membership_ending.send(sender=Membership, membership=membership)
    membership = _facilitator_changes(actor, membership)
    if membership.pk == actor.pk:
        raise CircleRuleError(_("You can't remove yourself; leave the circle instead."), "self")
    if membership.status != MembershipStatus.ACTIVE:
        raise CircleRuleError(_("Only current members can be removed."), "not_active")
    membership.status = MembershipStatus.REMOVED
    membership.save(update_fields=["status", "updated_at"])
    signals.membership_ended.send(sender=Membership, membership=membership, actor=actor)
    return membership


@transaction.atomic
def membership_set_role(*, actor: Membership, membership: Membership, role: str) -> Membership:
    membership = _facilitator_changes(actor, membership)
    if role not in Role.values:
        raise CircleRuleError(_("Unknown role."), "role")
    if membership.status != MembershipStatus.ACTIVE:
        raise CircleRuleError(_("Only current members can change roles."), "not_active")
    if role == membership.role:
        return membership
    if role == Role.MEMBER:
        _ensure_another_facilitator(
            membership=membership, message=_("A circle needs at least one facilitator.")
        )
        _ensure_worlds_apart(user=_lock_user(membership.user), circle=membership.circle)
        _ensure_seat(membership.circle)
    membership.role = role
    if role == Role.FACILITATOR and not membership.has_accepted_agreements:
        # Facilitators hold the agreements; they count as accepting the current ones.
        membership.agreements_accepted_at = timezone.now()
    membership.save(update_fields=["role", "agreements_accepted_at", "updated_at"])
    signals.role_changed.send(sender=Membership, membership=membership)
    return membership


@transaction.atomic
def membership_leave(*, membership: Membership) -> Membership:
    """Also lets him out of any meeting he is in right now (groups.signals)."""
    signals.membership_ending.send(sender=Membership, membership=membership)
    _lock_circle(membership.circle)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.status not in CURRENT_STATUSES:
        return membership
    if membership.role == Role.FACILITATOR:
        _ensure_another_facilitator(
            membership=membership,
            message=_("You're the circle's only facilitator. Hand the role to someone first."),
        )
    membership.status = MembershipStatus.LEFT
    membership.save(update_fields=["status", "updated_at"])
    signals.membership_ended.send(sender=Membership, membership=membership, actor=membership)
    return membership


@transaction.atomic
def membership_update_profile(*, membership: Membership, alias: str, intention: str) -> Membership:
    # Lock order as everywhere: circle, then membership. The circle lock serialises
    # alias checks, so two people taking the same name at once get the friendly
    # refusal rather than an IntegrityError from the constraint.
    circle = _lock_circle(membership.circle)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    membership.circle = circle
    alias = _clean_alias(alias)
    _ensure_alias_free(circle=membership.circle, alias=alias, exclude=membership)
    membership.alias = alias
    membership.intention = (intention or "").strip()[:1000]
    membership.save(update_fields=["alias", "intention", "updated_at"])
    return membership


@transaction.atomic
def agreements_accept(*, membership: Membership) -> Membership:
    """Re-reads the membership: a copy from before a removal must not count."""
    current = (
        Membership.objects.select_for_update(of=("self",))
        .select_related("circle")
        .get(pk=membership.pk)
    )
    if current.status != MembershipStatus.ACTIVE:
        raise CircleRuleError(
            _("You can accept the agreements once a facilitator has welcomed you in."),
            "not_active",
        )
    current.agreements_accepted_at = timezone.now()
    current.save(update_fields=["agreements_accepted_at", "updated_at"])
    membership.agreements_accepted_at = current.agreements_accepted_at
    return current


# Invites ------------------------------------------------------------------------------


@transaction.atomic
def invite_create(*, actor: Membership, circle: Circle, days: int | None = None) -> Invite:
    circle = _lock_circle(circle)
    actor = _require_facilitator_now(actor=actor, circle=circle)
    days = days or settings.HEARTH_INVITE_DAYS
    return Invite.objects.create(
        circle=circle,
        token=secrets.token_urlsafe(32),  # 256 random bits, 43 URL-safe characters
        created_by=actor,
        expires_at=timezone.now() + dt.timedelta(days=days),
    )


@transaction.atomic
def invite_revoke(*, actor: Membership, invite: Invite) -> Invite:
    circle = _lock_circle(invite.circle)
    _require_facilitator_now(actor=actor, circle=circle)
    invite = Invite.objects.select_for_update().get(pk=invite.pk)
    invite.circle = circle
    if invite.revoked_at is None:
        invite.revoked_at = timezone.now()
        invite.save(update_fields=["revoked_at"])
    return invite


def invite_lookup(*, token: str) -> Invite | None:
    """A usable invite for this token, or None (expired, revoked and unknown alike)."""
    if not token or len(token) > 64:
        return None
    invite = Invite.objects.select_related("circle").filter(token=token).first()
    if invite is None or not invite.is_usable():
        return None
    return invite


# Meetings -----------------------------------------------------------------------------


def meetings_generate(
    *, circle: Circle, now: dt.datetime | None = None, weeks: int | None = None
) -> list[Meeting]:
    """Create the coming weeks' meetings that don't exist yet. Idempotent."""
    now = now or timezone.now()
    weeks = weeks or settings.HEARTH_MEETING_WEEKS_AHEAD
    starts = weekly_starts(
        weekday=circle.weekday,
        start_time=circle.start_time,
        time_zone=circle.time_zone,
        after=now,
        weeks=weeks,
    )
    length = dt.timedelta(minutes=circle.duration_minutes)
    existing = set(circle.meetings.filter(starts_at__in=starts).values_list("starts_at", flat=True))
    created = []
    for start in starts:
        if start in existing:
            continue
        try:
            with transaction.atomic():
                created.append(
                    Meeting.objects.create(circle=circle, starts_at=start, ends_at=start + length)
                )
        except IntegrityError:
            continue  # made by a concurrent run
    return created


@transaction.atomic
def meetings_reschedule(*, circle: Circle, now: dt.datetime | None = None) -> list[Meeting]:
    """After a schedule change: future meetings that never opened (still scheduled, no
    opened_at, no events) move to the new times. Live and ended meetings, and any with
    events, are history and stay as they were."""
    now = now or timezone.now()
    circle.meetings.filter(
        status=MeetingStatus.SCHEDULED,
        starts_at__gt=now,
        opened_at__isnull=True,
        events__isnull=True,
    ).delete()
    return meetings_generate(circle=circle, now=now)
