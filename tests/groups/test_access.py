"""groups.access: every branch, tried by everyone who should be turned away.

A circle's pages answer 404 to anyone who isn't an active member, so an outsider can't
tell "not yours" from "doesn't exist". The live room answers with the protocol's close
codes: 4401 not logged in, 4404 no such meeting, 4403 not allowed, 4410 ended.
"""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from groups import access, services
from groups.access import access_circle, access_circle_as_facilitator
from groups.models import CircleKind, Meeting, MeetingStatus, Membership, Role
from room.access import access_meeting
from room.errors import AccessDenied, CloseCode
from tests.factories import facilitator_of, make_circle, make_meeting, make_member, make_user

pytestmark = pytest.mark.django_db


def _requested(circle):
    return services.membership_request(user=make_user(), circle=circle, alias="Hopeful").user


def _declined(circle):
    request = services.membership_request(user=make_user(), circle=circle, alias="Not now")
    services.membership_decline(actor=facilitator_of(circle), membership=request)
    return request.user


def _left(circle):
    member = make_member(circle)
    services.membership_leave(membership=member)
    return member.user


def _removed(circle):
    member = make_member(circle)
    services.membership_remove(actor=facilitator_of(circle), membership=member)
    return member.user


def _left_facilitator(circle):
    helper = services.membership_set_role(
        actor=facilitator_of(circle), membership=make_member(circle), role=Role.FACILITATOR
    )
    services.membership_leave(membership=helper)
    return helper.user


def _member_elsewhere(circle):
    return make_member(make_circle(kind=circle.kind)).user


def _facilitator_elsewhere(circle):
    return facilitator_of(make_circle(kind=circle.kind)).user


OUTSIDERS = {
    "anonymous": lambda circle: AnonymousUser(),
    "no_user_at_all": lambda circle: None,
    "stranger": lambda circle: make_user(),
    "requested": _requested,
    "declined": _declined,
    "left": _left,
    "removed": _removed,
    "left_facilitator": _left_facilitator,
    "member_of_another_circle": _member_elsewhere,
    "facilitator_of_another_circle": _facilitator_elsewhere,
}


# A circle's pages -----------------------------------------------------------------------


@pytest.mark.parametrize("who", OUTSIDERS)
@pytest.mark.parametrize("check", [access_circle, access_circle_as_facilitator])
def test_a_circle_is_not_found_for_anyone_outside_it(circle, who, check):
    user = OUTSIDERS[who](circle)

    with pytest.raises(Http404) as refused:
        check(user=user, slug=circle.slug)

    # The same words as for a circle that doesn't exist at all.
    with pytest.raises(Http404) as missing:
        check(user=facilitator_of(circle).user, slug="no-such-circle")
    assert str(refused.value) == str(missing.value)


def test_members_see_the_circle_but_not_its_facilitator_pages(circle, member):
    found, membership = access_circle(user=member.user, slug=circle.slug)

    assert (found.pk, membership.pk) == (circle.pk, member.pk)
    with pytest.raises(Http404):
        access_circle_as_facilitator(user=member.user, slug=circle.slug)


def test_a_member_who_has_not_accepted_the_agreements_still_sees_the_circle(circle):
    member = make_member(circle, accepted=False)

    assert access_circle(user=member.user, slug=circle.slug)[1].pk == member.pk


def test_facilitators_reach_both(circle, facilitator):
    for check in (access_circle, access_circle_as_facilitator):
        found, membership = check(user=facilitator.user, slug=circle.slug)
        assert (found.pk, membership.pk) == (circle.pk, facilitator.pk)


def test_a_facilitator_stepped_down_to_member_loses_the_facilitator_pages(circle, facilitator):
    helper = services.membership_set_role(
        actor=facilitator, membership=make_member(circle), role=Role.FACILITATOR
    )
    services.membership_set_role(actor=facilitator, membership=helper, role=Role.MEMBER)

    assert access_circle(user=helper.user, slug=circle.slug)[1].role == Role.MEMBER
    with pytest.raises(Http404):
        access_circle_as_facilitator(user=helper.user, slug=circle.slug)


def test_the_listed_directory_hides_unlisted_circles():
    listed = make_circle(listed=True)
    hidden = make_circle(listed=False)

    assert access.access_listed_circle(slug=listed.slug) == listed
    for slug in (hidden.slug, "no-such-circle"):
        with pytest.raises(Http404):
            access.access_listed_circle(slug=slug)


# The live room --------------------------------------------------------------------------


def denied_code(user, meeting_id, **kwargs) -> int:
    with pytest.raises(AccessDenied) as exc:
        access_meeting(user=user, meeting_id=meeting_id, **kwargs)
    return exc.value.code


@pytest.fixture
def meeting(circle):
    return make_meeting(circle)


@pytest.mark.parametrize("user", [AnonymousUser(), None], ids=["anonymous", "none"])
def test_the_room_asks_anonymous_people_to_log_in(meeting, user):
    assert denied_code(user, meeting.public_id) == CloseCode.NOT_LOGGED_IN


@pytest.mark.parametrize(
    "meeting_id",
    ["", "not-a-uuid", "1234", "../../etc/passwd", "0" * 33, str(uuid.uuid4())],
)
def test_the_room_does_not_find_bad_or_unknown_meeting_ids(member, meeting, meeting_id):
    assert denied_code(member.user, meeting_id) == CloseCode.NOT_FOUND


def test_the_room_does_not_find_a_meeting_by_its_database_id(member, meeting):
    assert denied_code(member.user, str(meeting.pk)) == CloseCode.NOT_FOUND


@pytest.mark.parametrize("who", [w for w in OUTSIDERS if w not in ("anonymous", "no_user_at_all")])
def test_the_room_turns_away_everyone_outside_the_circle(circle, meeting, who):
    user = OUTSIDERS[who](circle)

    assert denied_code(user, meeting.public_id) == CloseCode.NOT_ALLOWED


def test_an_ended_meeting_still_says_not_allowed_to_outsiders(circle):
    ended = make_meeting(circle, status=MeetingStatus.ENDED)

    assert denied_code(make_user(), ended.public_id) == CloseCode.NOT_ALLOWED
    assert denied_code(make_user(), ended.public_id, allow_ended=True) == CloseCode.NOT_ALLOWED


def test_the_room_asks_members_to_accept_the_agreements_first(circle, meeting):
    member = make_member(circle, accepted=False)

    assert denied_code(member.user, meeting.public_id) == CloseCode.NOT_ALLOWED

    services.agreements_accept(membership=member)
    assert access_meeting(user=member.user, meeting_id=meeting.public_id)[0].pk == member.pk


def test_accepting_old_agreements_is_not_enough_after_they_change(circle, facilitator, meeting):
    member = make_member(circle)
    assert access_meeting(user=member.user, meeting_id=meeting.public_id)[0].pk == member.pk

    services.circle_update(actor=facilitator, circle=circle, agreements="Listen first, always.")

    assert denied_code(member.user, meeting.public_id) == CloseCode.NOT_ALLOWED
    services.agreements_accept(membership=Membership.objects.get(pk=member.pk))
    assert access_meeting(user=member.user, meeting_id=meeting.public_id)[0].pk == member.pk


def test_facilitators_enter_without_accepting_separately(circle, facilitator, meeting):
    Membership.objects.filter(pk=facilitator.pk).update(agreements_accepted_at=None)

    entered, entered_meeting = access_meeting(user=facilitator.user, meeting_id=meeting.public_id)

    assert entered.pk == facilitator.pk
    assert entered_meeting == meeting


def test_facilitators_still_enter_after_the_agreements_change(circle, facilitator, meeting):
    services.circle_update(actor=facilitator, circle=circle, agreements="New agreements.")

    assert access_meeting(user=facilitator.user, meeting_id=meeting.public_id)[0].is_facilitator


@pytest.mark.parametrize("status", [MeetingStatus.SCHEDULED, MeetingStatus.LIVE])
def test_members_enter_a_meeting_that_has_not_ended(circle, member, status):
    meeting = make_meeting(circle, status=status)

    entered, entered_meeting = access_meeting(user=member.user, meeting_id=str(meeting.public_id))

    assert (entered.pk, entered_meeting.pk, entered.circle.pk) == (member.pk, meeting.pk, circle.pk)


def test_an_ended_meeting_is_closed_unless_asked_for_the_record(circle, member, facilitator):
    ended = make_meeting(circle, status=MeetingStatus.ENDED)

    assert denied_code(member.user, ended.public_id) == CloseCode.ENDED
    assert denied_code(facilitator.user, ended.public_id) == CloseCode.ENDED
    entered, _ended = access_meeting(user=member.user, meeting_id=ended.public_id, allow_ended=True)
    assert entered.pk == member.pk


def test_a_members_access_ends_when_they_are_removed_mid_meeting(circle, facilitator, meeting):
    member = make_member(circle)
    assert access_meeting(user=member.user, meeting_id=meeting.public_id)

    services.membership_remove(actor=facilitator, membership=member)

    assert denied_code(member.user, meeting.public_id) == CloseCode.NOT_ALLOWED


def test_a_meeting_of_another_circle_is_not_allowed_even_for_a_facilitator(facilitator):
    other_meeting = make_meeting(make_circle(kind=CircleKind.PARTNERS))

    assert denied_code(facilitator.user, other_meeting.public_id) == CloseCode.NOT_ALLOWED


def test_a_meeting_accepts_a_uuid_object_and_its_string(member, meeting):
    by_object, _meeting = access_meeting(user=member.user, meeting_id=meeting.public_id)
    by_string, _meeting = access_meeting(
        user=member.user, meeting_id=str(meeting.public_id).upper()
    )

    assert by_object.pk == by_string.pk == member.pk
    assert Meeting.objects.filter(public_id=meeting.public_id).count() == 1


# The facilitator check services use -------------------------------------------------------


def test_require_facilitator_refuses_members_and_other_circles(circle, facilitator, member):
    other = make_circle()

    access.require_facilitator(actor=facilitator, circle=circle)
    with pytest.raises(PermissionDenied):
        access.require_facilitator(actor=member, circle=circle)
    with pytest.raises(PermissionDenied):
        access.require_facilitator(actor=facilitator, circle=other)
