"""groups.services: every rule of a circle, attacked head-on.

Each refusal test also asserts that the refused call changed nothing in the database
(memberships, circle, invites), so a rule that says no after writing half a change
fails here.
"""

import datetime as dt
import string
import zoneinfo
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from groups import services
from groups.models import (
    Circle,
    CircleKind,
    Invite,
    Meeting,
    MeetingStatus,
    Membership,
    MembershipStatus,
    Role,
)
from groups.services import CircleRuleError
from room.models import MeetingEvent
from tests.factories import facilitator_of, make_circle, make_member, make_user

pytestmark = pytest.mark.django_db


def snapshot(*circles: Circle) -> dict:
    """Everything a rule could touch, read fresh from the database."""
    ids = [c.pk for c in circles]
    return {
        "memberships": list(
            Membership.objects.filter(circle_id__in=ids)
            .order_by("pk")
            .values_list(
                "pk", "user_id", "circle_id", "role", "status", "alias", "agreements_accepted_at"
            )
        ),
        "circles": list(Circle.objects.filter(pk__in=ids).order_by("pk").values()),
        "invites": list(
            Invite.objects.filter(circle_id__in=ids)
            .order_by("pk")
            .values_list("pk", "token", "revoked_at", "expires_at")
        ),
        "meetings": list(
            Meeting.objects.filter(circle_id__in=ids)
            .order_by("pk")
            .values_list("pk", "starts_at", "status")
        ),
    }


def fresh(membership: Membership) -> Membership:
    return Membership.objects.select_related("circle").get(pk=membership.pk)


def request(circle: Circle, *, alias: str, user=None, invite: Invite | None = None) -> Membership:
    return services.membership_request(
        user=user or make_user(), circle=circle, alias=alias, invite=invite
    )


def active_members(circle: Circle) -> int:
    return circle.memberships.filter(status=MembershipStatus.ACTIVE, role=Role.MEMBER).count()


def membership_of(circle: Circle, user) -> Membership:
    return circle.memberships.select_related("circle").get(user=user)


def promote(circle: Circle, membership: Membership) -> Membership:
    return services.membership_set_role(
        actor=facilitator_of(circle), membership=membership, role=Role.FACILITATOR
    )


# Capacity -----------------------------------------------------------------------------


def test_approving_into_a_full_circle_is_refused_and_the_request_stays_open():
    circle = make_circle(capacity=2)
    make_member(circle)
    second = request(circle, alias="Second")
    third = request(circle, alias="Third")
    services.membership_approve(actor=facilitator_of(circle), membership=second)
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_approve(actor=facilitator_of(circle), membership=third)

    assert exc.value.code == "circle_full"
    assert "full" in exc.value.message
    assert snapshot(circle) == before
    assert fresh(third).status == MembershipStatus.REQUESTED
    assert active_members(circle) == 2


def test_a_full_circle_takes_no_request_and_no_invited_person():
    circle = make_circle(capacity=2)
    make_member(circle)
    make_member(circle)
    invite = services.invite_create(actor=facilitator_of(circle), circle=circle)
    before = snapshot(circle)

    for kwargs in ({}, {"invite": invite}):
        with pytest.raises(CircleRuleError) as exc:
            request(circle, alias="Latecomer", **kwargs)
        assert exc.value.code == "circle_full"

    assert snapshot(circle) == before


def test_facilitators_do_not_take_seats():
    circle = make_circle(capacity=2)
    first = make_member(circle)
    make_member(circle)
    # A second facilitator: promoting a member frees the seat they had.
    promote(circle, first)

    newcomer = make_member(circle)

    assert fresh(newcomer).status == MembershipStatus.ACTIVE
    assert active_members(circle) == 2
    assert circle.memberships.filter(status=MembershipStatus.ACTIVE).count() == 4


def test_demoting_a_facilitator_into_a_full_circle_is_refused():
    circle = make_circle(capacity=2)
    helper = promote(circle, make_member(circle))
    make_member(circle)
    make_member(circle)
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_set_role(
            actor=facilitator_of(circle), membership=helper, role=Role.MEMBER
        )

    assert exc.value.code == "circle_full"
    assert snapshot(circle) == before


def test_seats_cannot_go_below_the_members_already_there():
    circle = make_circle(capacity=5)
    for _ in range(3):
        make_member(circle)
    promote(circle, make_member(circle))  # facilitators don't count: 3 members remain
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        services.circle_update(actor=facilitator_of(circle), circle=circle, capacity=2)

    assert exc.value.code == "capacity_below_members"
    assert "3" in exc.value.message
    assert snapshot(circle) == before

    services.circle_update(actor=facilitator_of(circle), circle=circle, capacity=3)
    assert Circle.objects.get(pk=circle.pk).capacity == 3


@pytest.mark.parametrize("capacity", [1, 16])
def test_seats_stay_within_two_to_fifteen(capacity):
    circle = make_circle()
    before = snapshot(circle)

    with pytest.raises(ValidationError) as exc:
        services.circle_update(actor=facilitator_of(circle), circle=circle, capacity=capacity)

    assert "capacity" in exc.value.message_dict
    assert snapshot(circle) == before


# Who may manage a circle ----------------------------------------------------------------


@pytest.fixture
def world(db):
    """A men's circle with two facilitators, a member, a pending request and an invite;
    and a second circle with its own facilitator."""
    circle = make_circle(capacity=6, name="Thursday Men")
    host = facilitator_of(circle)
    second_facilitator = promote(circle, make_member(circle, alias="Jo"))
    member = make_member(circle, alias="Sam")
    requester = request(circle, alias="Ravi")
    invite = services.invite_create(actor=host, circle=circle)
    other = make_circle(name="Other Men")
    return SimpleNamespace(
        circle=circle,
        host=host,
        second_facilitator=second_facilitator,
        member=member,
        requester=requester,
        invite=invite,
        other=other,
        other_facilitator=facilitator_of(other),
    )


def _removed_facilitator(w):
    stale = promote(w.circle, make_member(w.circle, alias="Former host"))
    services.membership_remove(actor=w.host, membership=stale)
    return stale  # still says "active facilitator" in memory


def _left_facilitator(w):
    stale = promote(w.circle, make_member(w.circle, alias="Moved on"))
    services.membership_leave(membership=fresh(stale))
    return stale


def _left_member(w):
    stale = make_member(w.circle, alias="Gone")
    services.membership_leave(membership=fresh(stale))
    return stale


def _declined(w):
    stale = request(w.circle, alias="Not yet")
    services.membership_decline(actor=w.host, membership=stale)
    return stale


ACTORS = {
    "member": lambda w: w.member,
    "facilitator_of_another_circle": lambda w: w.other_facilitator,
    "removed_facilitator": _removed_facilitator,
    "left_facilitator": _left_facilitator,
    "left_member": _left_member,
    "pending_request": lambda w: w.requester,
    "declined_request": _declined,
}

ACTIONS = {
    "approve": lambda w, a: services.membership_approve(actor=a, membership=w.requester),
    "decline": lambda w, a: services.membership_decline(actor=a, membership=w.requester),
    "remove": lambda w, a: services.membership_remove(actor=a, membership=w.member),
    "promote": lambda w, a: services.membership_set_role(
        actor=a, membership=w.member, role=Role.FACILITATOR
    ),
    "demote": lambda w, a: services.membership_set_role(
        actor=a, membership=w.second_facilitator, role=Role.MEMBER
    ),
    "edit_circle": lambda w, a: services.circle_update(
        actor=a, circle=w.circle, name="Taken over", capacity=15
    ),
    "change_agreements": lambda w, a: services.circle_update(
        actor=a, circle=w.circle, agreements="Anything goes."
    ),
    "change_schedule": lambda w, a: services.circle_update(
        actor=a, circle=w.circle, weekday=5, start_time=dt.time(8, 0)
    ),
    "create_invite": lambda w, a: services.invite_create(actor=a, circle=w.circle),
    "revoke_invite": lambda w, a: services.invite_revoke(actor=a, invite=w.invite),
}


@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("actor", ACTORS)
def test_only_the_circles_facilitators_manage_it(world, actor, action):
    who = ACTORS[actor](world)
    before = snapshot(world.circle, world.other)

    with pytest.raises(PermissionDenied):
        ACTIONS[action](world, who)

    assert snapshot(world.circle, world.other) == before


@pytest.mark.parametrize("action", ACTIONS)
def test_a_facilitator_can_do_each_of_those(world, action):
    before = snapshot(world.circle, world.other)

    ACTIONS[action](world, world.host)

    assert snapshot(world.circle, world.other) != before


def test_a_facilitator_cannot_reach_into_another_circle(world):
    outsider = make_member(world.other, alias="Elsewhere")
    their_invite = services.invite_create(actor=world.other_facilitator, circle=world.other)
    before = snapshot(world.circle, world.other)

    with pytest.raises(PermissionDenied):
        services.membership_remove(actor=world.host, membership=outsider)
    with pytest.raises(PermissionDenied):
        services.invite_revoke(actor=world.host, invite=their_invite)
    with pytest.raises(PermissionDenied):
        services.circle_update(actor=world.host, circle=world.other, name="Mine now")
    with pytest.raises(PermissionDenied):
        services.invite_create(actor=world.host, circle=world.other)

    assert snapshot(world.circle, world.other) == before


def test_handled_requests_cannot_be_handled_again(world):
    services.membership_decline(actor=world.host, membership=world.requester)
    before = snapshot(world.circle)

    for service in (services.membership_approve, services.membership_decline):
        with pytest.raises(CircleRuleError) as exc:
            service(actor=world.host, membership=world.requester)
        assert exc.value.code == "not_requested"

    assert snapshot(world.circle) == before


# Removing, leaving, the last facilitator ---------------------------------------------------


def test_a_facilitator_cannot_remove_themselves(world):
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_remove(actor=world.host, membership=world.host)

    assert exc.value.code == "self"
    assert snapshot(world.circle) == before


def test_the_last_facilitator_can_neither_leave_nor_step_down():
    circle = make_circle()
    make_member(circle)
    host = facilitator_of(circle)
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as leaving:
        services.membership_leave(membership=host)
    with pytest.raises(CircleRuleError) as stepping_down:
        services.membership_set_role(actor=host, membership=host, role=Role.MEMBER)

    assert leaving.value.code == stepping_down.value.code == "last_facilitator"
    assert snapshot(circle) == before


def test_with_two_facilitators_one_may_leave_then_the_other_is_the_last(world):
    services.membership_leave(membership=world.second_facilitator)
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_leave(membership=world.host)

    assert exc.value.code == "last_facilitator"
    assert snapshot(world.circle) == before
    assert fresh(world.second_facilitator).status == MembershipStatus.LEFT


def test_removing_a_request_or_a_former_member_is_refused(world):
    gone = _left_member(world)
    before = snapshot(world.circle)

    for target in (world.requester, gone):
        with pytest.raises(CircleRuleError) as exc:
            services.membership_remove(actor=world.host, membership=target)
        assert exc.value.code == "not_active"

    assert snapshot(world.circle) == before


def test_a_removed_person_cannot_ask_again_even_with_an_invite(world):
    services.membership_remove(actor=world.host, membership=world.member)
    before = snapshot(world.circle)

    for invite in (None, world.invite):
        with pytest.raises(CircleRuleError) as exc:
            request(world.circle, user=world.member.user, alias="Sam again", invite=invite)
        assert exc.value.code == "removed"

    assert snapshot(world.circle) == before


def test_a_person_who_left_may_come_back_through_the_same_row(world):
    services.membership_leave(membership=world.member)

    again = request(world.circle, user=world.member.user, alias="Sam")

    assert again.pk == world.member.pk
    assert (again.status, again.role) == (MembershipStatus.REQUESTED, Role.MEMBER)
    assert again.agreements_accepted_at is None


def test_asking_twice_is_refused(world):
    before = snapshot(world.circle)

    for existing in (world.requester, world.member):
        with pytest.raises(CircleRuleError) as exc:
            request(world.circle, user=existing.user, alias="Twice")
        assert exc.value.code == "already"

    assert snapshot(world.circle) == before


# Men's circles and partner circles never share a member ---------------------------------


@pytest.fixture
def men_and_partners(db):
    return make_circle(kind=CircleKind.MEN), make_circle(kind=CircleKind.PARTNERS)


@pytest.mark.parametrize("first_kind", [CircleKind.MEN, CircleKind.PARTNERS])
@pytest.mark.parametrize("state", ["active", "requested"])
def test_a_member_of_one_kind_cannot_join_the_other(men_and_partners, first_kind, state):
    men, partners = men_and_partners
    first, second = (men, partners) if first_kind == CircleKind.MEN else (partners, men)
    person = make_user()
    if state == "active":
        make_member(first, user=person)
    else:
        request(first, user=person, alias="Waiting")
    invite = services.invite_create(actor=facilitator_of(second), circle=second)
    before = snapshot(men, partners)

    for kwargs in ({}, {"invite": invite}):
        with pytest.raises(CircleRuleError) as exc:
            request(second, user=person, alias="Both", **kwargs)
        assert exc.value.code == "separate_worlds"
        assert "kept completely separate" in exc.value.message
        assert first.name in exc.value.message

    assert snapshot(men, partners) == before
    assert not Membership.objects.filter(user=person, circle=second).exists()


@pytest.mark.parametrize("ending", ["leave", "decline", "remove"])
def test_once_no_longer_part_of_one_kind_the_other_is_open(men_and_partners, ending):
    men, partners = men_and_partners
    person = make_user()
    host = facilitator_of(men)
    if ending == "decline":
        services.membership_decline(actor=host, membership=request(men, user=person, alias="A"))
    elif ending == "leave":
        services.membership_leave(membership=make_member(men, user=person))
    else:
        services.membership_remove(actor=host, membership=make_member(men, user=person))

    joined = make_member(partners, user=person)

    assert joined.status == MembershipStatus.ACTIVE


def test_the_same_kind_twice_is_fine(men_and_partners):
    men, _ = men_and_partners
    person = make_user()
    make_member(men, user=person)

    other_men = make_member(make_circle(kind=CircleKind.MEN), user=person)

    assert other_men.status == MembershipStatus.ACTIVE


def test_facilitators_may_serve_both_kinds():
    host = make_user(host=True)
    men = make_circle(facilitator=host, kind=CircleKind.MEN)
    partners = make_circle(facilitator=host, kind=CircleKind.PARTNERS)
    make_member(men)
    make_member(partners)

    assert set(
        host.memberships.filter(role=Role.FACILITATOR, status="active").values_list(
            "circle__kind", flat=True
        )
    ) == {CircleKind.MEN, CircleKind.PARTNERS}


def test_a_member_of_one_kind_may_still_facilitate_the_other():
    person = make_user(host=True)
    make_member(make_circle(kind=CircleKind.PARTNERS), user=person)

    men = make_circle(facilitator=person, kind=CircleKind.MEN)

    assert membership_of(men, person).is_facilitator


def test_approval_rechecks_in_case_the_person_joined_the_other_kind_meanwhile(
    men_and_partners,
):
    men, partners = men_and_partners
    person = make_user()
    pending = request(men, user=person, alias="Patient")
    # Joined the other kind by a path that skips the request check (the admin, an
    # import): approval must still refuse.
    Membership.objects.create(
        user=person,
        circle=partners,
        alias="Elsewhere",
        role=Role.MEMBER,
        status=MembershipStatus.ACTIVE,
    )
    before = snapshot(men, partners)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_approve(actor=facilitator_of(men), membership=pending)

    assert exc.value.code == "separate_worlds"
    assert snapshot(men, partners) == before


def test_stepping_down_to_member_rechecks_the_other_kind():
    person = make_user(host=True)
    men = make_circle(facilitator=person, kind=CircleKind.MEN)
    helper = promote(men, make_member(men))
    # As a facilitator of a men's circle, he may still be a member of a partner circle…
    make_member(make_circle(kind=CircleKind.PARTNERS), user=person)
    before = snapshot(men)

    # …but not become a member of the men's circle too.
    with pytest.raises(CircleRuleError) as exc:
        services.membership_set_role(
            actor=helper, membership=membership_of(men, person), role=Role.MEMBER
        )

    assert exc.value.code == "separate_worlds"
    assert snapshot(men) == before


def test_a_facilitator_with_a_pending_request_of_the_other_kind_cannot_step_down():
    person = make_user(host=True)
    partners = make_circle(facilitator=person, kind=CircleKind.PARTNERS)
    helper = promote(partners, make_member(partners))
    request(make_circle(kind=CircleKind.MEN), user=person, alias="Curious")
    before = snapshot(partners)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_set_role(
            actor=helper, membership=membership_of(partners, person), role=Role.MEMBER
        )

    assert exc.value.code == "separate_worlds"
    assert snapshot(partners) == before


# A circle's kind ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["active", "requested"])
def test_a_circle_with_members_cannot_change_kind(who):
    circle = make_circle(kind=CircleKind.MEN)
    if who == "active":
        make_member(circle)
    else:
        request(circle, alias="Hopeful")
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        services.circle_update(
            actor=facilitator_of(circle), circle=circle, kind=CircleKind.PARTNERS
        )

    assert exc.value.code == "kind_locked"
    assert snapshot(circle) == before


def test_a_circle_of_facilitators_only_may_change_kind():
    circle = make_circle(kind=CircleKind.MEN)

    services.circle_update(actor=facilitator_of(circle), circle=circle, kind=CircleKind.PARTNERS)

    assert Circle.objects.get(pk=circle.pk).kind == CircleKind.PARTNERS


# Agreements ------------------------------------------------------------------------------


def test_changed_agreements_must_be_accepted_again_by_members_not_facilitators(world):
    assert fresh(world.member).has_accepted_agreements

    services.circle_update(
        actor=world.host, circle=world.circle, agreements="We listen. We don't fix."
    )

    assert not fresh(world.member).has_accepted_agreements
    assert fresh(world.host).has_accepted_agreements
    assert fresh(world.second_facilitator).has_accepted_agreements

    services.agreements_accept(membership=fresh(world.member))
    assert fresh(world.member).has_accepted_agreements


def test_other_edits_leave_the_agreements_accepted(world):
    services.circle_update(actor=world.host, circle=world.circle, name="Thursday Men II")

    assert fresh(world.member).has_accepted_agreements


def test_clearing_the_agreements_restores_the_default_for_the_kind(world):
    services.circle_update(actor=world.host, circle=world.circle, agreements="")

    assert Circle.objects.get(pk=world.circle.pk).agreements == services.default_agreements(
        CircleKind.MEN
    )


def test_only_members_let_in_can_accept_the_agreements(world):
    gone = _left_member(world)
    before = snapshot(world.circle)

    for membership in (world.requester, fresh(gone)):
        with pytest.raises(CircleRuleError) as exc:
            services.agreements_accept(membership=membership)
        assert exc.value.code == "not_active"

    assert snapshot(world.circle) == before


def test_a_copy_read_before_removal_cannot_accept_the_agreements(world):
    stale = fresh(world.member)
    services.circle_update(actor=world.host, circle=world.circle, agreements="New words.")
    services.membership_remove(actor=world.host, membership=world.member)
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        services.agreements_accept(membership=stale)

    assert exc.value.code == "not_active"
    assert snapshot(world.circle) == before


def test_a_member_promoted_after_an_agreements_change_counts_as_accepted(world):
    services.circle_update(actor=world.host, circle=world.circle, agreements="New words.")

    promoted = promote(world.circle, world.member)

    assert fresh(promoted).has_accepted_agreements


# Invites ---------------------------------------------------------------------------------


def test_invite_tokens_are_long_url_safe_and_unique(world):
    tokens = [
        services.invite_create(actor=world.host, circle=world.circle).token for _ in range(300)
    ]

    assert len(set(tokens)) == len(tokens)
    alphabet = set(string.ascii_letters + string.digits + "-_")
    assert all(len(token) >= 43 and set(token) <= alphabet for token in tokens)
    assert len({token[:8] for token in tokens}) == len(tokens)  # no shared prefix scheme


def test_an_invite_expires_after_the_configured_days(world):
    invite = services.invite_create(actor=world.host, circle=world.circle)

    expected = timezone.now() + dt.timedelta(days=settings.HEARTH_INVITE_DAYS)
    assert abs(invite.expires_at - expected) < dt.timedelta(minutes=1)


def test_invite_lookup_finds_only_usable_invites(world):
    usable = services.invite_create(actor=world.host, circle=world.circle)
    revoked = services.invite_revoke(
        actor=world.host, invite=services.invite_create(actor=world.host, circle=world.circle)
    )
    expired = services.invite_create(actor=world.host, circle=world.circle)
    Invite.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - dt.timedelta(1))

    assert services.invite_lookup(token=usable.token) == usable
    for token in (revoked.token, expired.token, "", "x" * 65, usable.token.upper(), "nope"):
        assert services.invite_lookup(token=token) is None


@pytest.fixture
def unlisted(db):
    circle = make_circle(listed=False, name="Quiet Men")
    invite = services.invite_create(actor=facilitator_of(circle), circle=circle)
    return circle, invite


def test_a_plain_request_to_an_unlisted_circle_is_refused(unlisted):
    circle, _ = unlisted
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        request(circle, alias="Wanderer")

    assert exc.value.code == "unlisted"
    assert snapshot(circle) == before


def test_an_invite_lets_a_person_straight_into_an_unlisted_circle(unlisted):
    circle, invite = unlisted

    joined = request(circle, alias="Invited", invite=invite)

    assert (joined.status, joined.role, joined.invited) == (
        MembershipStatus.ACTIVE,
        Role.MEMBER,
        True,
    )
    assert not joined.has_accepted_agreements


@pytest.mark.parametrize("spoil", ["revoked", "expired", "other_circle", "revoked_after_lookup"])
def test_an_unusable_invite_lets_nobody_in(unlisted, spoil):
    circle, invite = unlisted
    host = facilitator_of(circle)
    if spoil == "revoked":
        services.invite_revoke(actor=host, invite=invite)
        invite = Invite.objects.get(pk=invite.pk)
    elif spoil == "expired":
        Invite.objects.filter(pk=invite.pk).update(
            expires_at=timezone.now() - dt.timedelta(seconds=1)
        )
        invite = Invite.objects.get(pk=invite.pk)
    elif spoil == "other_circle":
        elsewhere = make_circle(listed=False)
        invite = services.invite_create(actor=facilitator_of(elsewhere), circle=elsewhere)
    else:
        # Looked up while still good, withdrawn before the person pressed "join".
        invite = services.invite_lookup(token=invite.token)
        services.invite_revoke(actor=host, invite=Invite.objects.get(pk=invite.pk))
    before = snapshot(circle)

    with pytest.raises(CircleRuleError) as exc:
        request(circle, alias="Too late", invite=invite)

    assert exc.value.code == "invite"
    assert snapshot(circle) == before


def test_revoking_twice_keeps_the_first_time(world):
    stale = Invite.objects.get(pk=world.invite.pk)
    first = services.invite_revoke(actor=world.host, invite=world.invite).revoked_at

    again = services.invite_revoke(actor=world.second_facilitator, invite=stale)

    assert again.revoked_at == first
    assert Invite.objects.get(pk=world.invite.pk).revoked_at == first


# Aliases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("taken", ["Sam", "sam", "SAM", "  Sam  ", "sAm\t", "\nSAM"])
def test_an_alias_is_taken_whatever_its_case_or_spacing(world, taken):
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        request(world.circle, alias=taken)

    assert exc.value.code == "alias_taken"
    assert "already uses the name" in exc.value.message
    assert snapshot(world.circle) == before


def test_inner_whitespace_is_normalised_before_comparing(world):
    make_member(world.circle, alias="Big   Sam")
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError):
        request(world.circle, alias=" big sam ")

    assert snapshot(world.circle) == before
    assert world.circle.memberships.filter(alias="Big Sam").count() == 1


def test_a_pending_request_holds_its_alias(world):
    with pytest.raises(CircleRuleError) as exc:
        request(world.circle, alias="RAVI")

    assert exc.value.code == "alias_taken"


def test_the_same_alias_in_another_circle_is_fine(world):
    elsewhere = make_member(world.other, alias="Sam")

    assert elsewhere.alias == "Sam"


@pytest.mark.parametrize("ending", ["leave", "decline"])
def test_a_person_who_left_frees_the_alias(world, ending):
    if ending == "leave":
        services.membership_leave(membership=world.member)
        alias = "sam"
    else:
        services.membership_decline(actor=world.host, membership=world.requester)
        alias = "ravi"

    newcomer = request(world.circle, alias=alias)

    assert newcomer.status == MembershipStatus.REQUESTED


def test_renaming_yourself_to_a_taken_alias_is_refused(world):
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        services.membership_update_profile(
            membership=world.member, alias=" JO ", intention="Something else"
        )

    assert exc.value.code == "alias_taken"
    assert snapshot(world.circle) == before
    assert fresh(world.member).intention == "To listen."


def test_renaming_yourself_to_your_own_alias_in_another_case_is_fine(world):
    services.membership_update_profile(membership=world.member, alias="SAM", intention="")

    assert fresh(world.member).alias == "SAM"


@pytest.mark.parametrize("alias", ["", "   ", "x" * 41])
def test_an_alias_must_be_given_and_short(world, alias):
    before = snapshot(world.circle)

    with pytest.raises(CircleRuleError) as exc:
        request(world.circle, alias=alias)

    assert exc.value.code == "alias"
    assert snapshot(world.circle) == before


def test_the_database_backs_alias_uniqueness(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(
            user=make_user(), circle=world.circle, alias="SAM", status=MembershipStatus.ACTIVE
        )


# Weekly meetings ---------------------------------------------------------------------------


def upcoming(circle: Circle) -> list[Meeting]:
    return list(circle.meetings.filter(starts_at__gt=timezone.now()).order_by("starts_at"))


def test_a_new_circle_has_its_coming_weeks_scheduled():
    circle = make_circle(weekday=3, start_time=dt.time(19, 30), time_zone="America/New_York")
    tz = zoneinfo.ZoneInfo("America/New_York")

    meetings = upcoming(circle)

    assert len(meetings) == settings.HEARTH_MEETING_WEEKS_AHEAD
    for meeting in meetings:
        local = meeting.starts_at.astimezone(tz)
        assert (local.weekday(), local.time()) == (3, dt.time(19, 30))
        assert meeting.ends_at - meeting.starts_at == dt.timedelta(minutes=90)
        assert meeting.status == MeetingStatus.SCHEDULED


def test_generating_twice_creates_nothing_new():
    circle = make_circle()
    before = snapshot(circle)

    assert services.meetings_generate(circle=circle) == []
    assert services.meetings_generate(circle=circle, weeks=3) == []
    assert snapshot(circle) == before


def test_generating_later_adds_only_the_new_weeks():
    circle = make_circle(weekday=0, start_time=dt.time(19, 30))
    circle.meetings.all().delete()
    first_run = dt.datetime(2026, 6, 2, 12, 0, tzinfo=dt.UTC)  # a Tuesday, far from DST

    services.meetings_generate(circle=circle, now=first_run, weeks=4)
    created = services.meetings_generate(
        circle=circle, now=first_run + dt.timedelta(days=14), weeks=4
    )

    assert [m.starts_at for m in created] == [
        dt.datetime(2026, 7, 6, 18, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 13, 18, 30, tzinfo=dt.UTC),
    ]
    assert circle.meetings.count() == 6


def test_generated_meetings_keep_local_time_across_the_clock_change():
    circle = make_circle(weekday=6, start_time=dt.time(19, 30), time_zone="Europe/London")
    circle.meetings.all().delete()

    created = services.meetings_generate(
        circle=circle, now=dt.datetime(2026, 10, 12, tzinfo=dt.UTC), weeks=3
    )

    assert [m.starts_at for m in created] == [
        dt.datetime(2026, 10, 18, 18, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 10, 25, 19, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 1, 19, 30, tzinfo=dt.UTC),
    ]


def test_a_schedule_change_moves_only_future_meetings_that_never_opened():
    circle = make_circle(weekday=2, start_time=dt.time(19, 30), time_zone="Europe/London")
    host = facilitator_of(circle)
    future = upcoming(circle)
    live, ended, with_events, opened = future[1], future[2], future[3], future[4]
    # Each mark alone must keep its meeting: status, events, opened_at.
    Meeting.objects.filter(pk=live.pk).update(status=MeetingStatus.LIVE)
    Meeting.objects.filter(pk=ended.pk).update(status=MeetingStatus.ENDED)
    MeetingEvent.objects.create(
        meeting=with_events, seq=1, type="meeting.note", created_at=timezone.now()
    )
    Meeting.objects.filter(pk=opened.pk).update(opened_at=timezone.now())
    past_start = timezone.now() - dt.timedelta(days=7)
    past = Meeting.objects.create(
        circle=circle, starts_at=past_start, ends_at=past_start + dt.timedelta(hours=1)
    )
    kept = {m.pk: m.starts_at for m in (live, ended, with_events, opened, past)}
    moved = {m.pk for m in future} - set(kept)

    services.circle_update(actor=host, circle=circle, weekday=4, start_time=dt.time(20, 0))

    assert dict(Meeting.objects.filter(pk__in=kept).values_list("pk", "starts_at")) == kept
    assert not Meeting.objects.filter(pk__in=moved).exists()
    london = zoneinfo.ZoneInfo("Europe/London")
    new = circle.meetings.exclude(pk__in=kept).filter(starts_at__gt=timezone.now())
    assert new.count() == settings.HEARTH_MEETING_WEEKS_AHEAD
    for meeting in new:
        local = meeting.starts_at.astimezone(london)
        assert (local.weekday(), local.time()) == (4, dt.time(20, 0))
    # Running the generator again after the move adds nothing.
    assert services.meetings_generate(circle=Circle.objects.get(pk=circle.pk)) == []


def test_a_new_length_moves_the_end_of_future_meetings():
    circle = make_circle()

    services.circle_update(actor=facilitator_of(circle), circle=circle, duration_minutes=60)

    assert {m.ends_at - m.starts_at for m in upcoming(circle)} == {dt.timedelta(minutes=60)}


def test_edits_that_are_not_about_the_schedule_leave_meetings_alone():
    circle = make_circle()
    before = snapshot(circle)["meetings"]

    services.circle_update(
        actor=facilitator_of(circle), circle=circle, name="Renamed", description="Hello"
    )

    assert snapshot(circle)["meetings"] == before
