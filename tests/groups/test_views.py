"""The circle pages through the real URLs and views: who sees what, what a refused
write leaves behind (nothing), and how errors reach the page."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.text import printable
from groups import services
from groups.models import Circle, CircleKind, Invite, Meeting, Membership, MembershipStatus, Role
from tests import factories

pytestmark = pytest.mark.django_db


def html(response) -> str:
    return response.content.decode()


def url(name: str, **kwargs) -> str:
    return reverse(f"groups:{name}", kwargs=kwargs)


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def outsider(db):
    return factories.make_user()


@pytest.fixture
def requester(circle):
    """Someone who asked to join and is waiting."""
    user = factories.make_user()
    return services.membership_request(
        user=user, circle=circle, alias="Newcomer", intention="Somewhere to be honest."
    )


# Pages render for the right person ----------------------------------------------


def test_home_is_public(client):
    response = client.get(url("home"))
    assert response.status_code == 200
    assert "Find a circle" in html(response)
    assert 'class="skip-link"' in html(response)


def test_dashboard_needs_login(client):
    response = client.get(url("dashboard"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_dashboard_shows_my_circle_and_the_live_meeting_link(client, circle, member):
    meeting = factories.make_meeting(circle)
    response = login(client, member.user).get(url("dashboard"))
    assert response.status_code == 200
    page = html(response)
    assert circle.name in page
    assert f"/meetings/{meeting.public_id}/" in page
    assert "Open now" in page


def test_dashboard_asks_for_agreements_before_offering_the_room(client, circle):
    member = factories.make_member(circle, alias="Fresh", accepted=False)
    meeting = factories.make_meeting(circle)
    page = html(login(client, member.user).get(url("dashboard")))
    assert f"/meetings/{meeting.public_id}/" not in page
    assert url("agreements", slug=circle.slug) in page


def test_dashboard_lists_my_pending_request(client, circle, requester):
    page = html(login(client, requester.user).get(url("dashboard")))
    assert "Waiting for a welcome" in page
    assert circle.name in page
    assert url("leave", slug=circle.slug) in page


def test_dashboard_shows_facilitator_the_requests_to_handle(client, circle, facilitator, requester):
    page = html(login(client, facilitator.user).get(url("dashboard")))
    assert "Newcomer" in page
    assert "Somewhere to be honest." in page
    assert url("manage", slug=circle.slug) in page


def test_directory_lists_listed_circles_by_kind_with_seats(client, circle, member):
    partners = factories.make_circle(kind=CircleKind.PARTNERS, name="Partner Evenings")
    hidden = factories.make_circle(name="Quiet Unlisted Circle", listed=False)
    response = client.get(url("directory"))
    assert response.status_code == 200
    page = html(response)
    assert circle.name in page and partners.name in page
    assert hidden.name not in page
    assert page.index('id="kind-men"') < page.index(circle.name) < page.index('id="kind-partners"')
    assert "9 seats left" in page  # capacity 10, one member; facilitators don't count


def test_directory_shows_times_in_the_viewers_zone_labelled(client, circle, outsider):
    page = html(client.get(url("directory")))
    assert "Every Wednesday at 19:30" in page and "(Europe/London)" in page
    outsider.time_zone = "America/New_York"
    outsider.save(update_fields=["time_zone"])
    page = html(login(client, outsider).get(url("directory")))
    assert "(America/New_York)" in page
    assert "(Europe/London)" not in page
    assert "Every Wednesday at 19:30" not in page


def test_circle_page_for_a_member(client, circle, member):
    factories.make_member(circle, alias="Jon")
    meeting = factories.make_meeting(circle)
    response = login(client, member.user).get(url("circle", slug=circle.slug))
    assert response.status_code == 200
    page = html(response)
    assert "Sam" in page and "Jon" in page
    assert "What is said here stays here." in page
    assert "Samaritans" in page  # help lines for the circle's region
    assert f"/meetings/{meeting.public_id}/" in page
    assert url("manage", slug=circle.slug) not in page


def test_circle_page_shows_call_link_and_facilitator_tools(client, circle, facilitator):
    services.circle_update(actor=facilitator, circle=circle, call_link="https://call.example.org/x")
    page = html(login(client, facilitator.user).get(url("circle", slug=circle.slug)))
    assert "https://call.example.org/x" in page
    assert url("manage", slug=circle.slug) in page
    assert url("circle_edit", slug=circle.slug) in page


@pytest.mark.parametrize("page", ["circle", "agreements", "leave", "manage", "circle_edit"])
def test_circle_pages_are_404_for_non_members(client, circle, outsider, page):
    response = login(client, outsider).get(url(page, slug=circle.slug))
    assert response.status_code == 404
    assert circle.name not in html(response)


@pytest.mark.parametrize("page", ["circle", "agreements", "manage", "circle_edit"])
def test_circle_pages_are_404_for_someone_still_waiting(client, circle, requester, page):
    assert login(client, requester.user).get(url(page, slug=circle.slug)).status_code == 404


def test_unknown_circle_is_404_like_a_private_one(client, outsider):
    assert login(client, outsider).get(url("circle", slug="no-such")).status_code == 404


def test_circle_page_sends_anonymous_visitors_to_login(client, circle):
    response = client.get(url("circle", slug=circle.slug))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


@pytest.mark.parametrize("page", ["manage", "circle_edit"])
def test_facilitator_pages_are_404_not_403_for_members(client, circle, member, page):
    assert login(client, member.user).get(url(page, slug=circle.slug)).status_code == 404


@pytest.mark.parametrize("page", ["manage", "circle_edit"])
def test_facilitator_pages_render_for_the_facilitator(client, circle, facilitator, page):
    response = login(client, facilitator.user).get(url(page, slug=circle.slug))
    assert response.status_code == 200
    assert circle.name in html(response)


def test_facilitator_of_another_circle_gets_404(client, circle):
    other = factories.make_circle(name="Another Circle")
    other_host = factories.facilitator_of(other).user
    assert login(client, other_host).get(url("manage", slug=circle.slug)).status_code == 404


def test_unlisted_circle_is_hidden_from_join_page_and_outsiders(client, outsider):
    hidden = factories.make_circle(name="Unlisted", listed=False)
    login(client, outsider)
    assert client.get(url("join", slug=hidden.slug)).status_code == 404
    response = client.post(url("join", slug=hidden.slug), {"alias": "Me"})
    assert response.status_code == 404
    assert not Membership.objects.filter(circle=hidden, user=outsider).exists()
    assert client.get(url("circle", slug=hidden.slug)).status_code == 404


def test_join_page_shows_public_info_only(client, circle, member):
    response = client.get(url("join", slug=circle.slug))
    assert response.status_code == 200
    page = html(response)
    assert circle.name in page
    assert "Sam" not in page  # members are not public
    assert reverse("account_login") in page  # anonymous: sign in first


def test_join_post_needs_login(client, circle):
    response = client.post(url("join", slug=circle.slug), {"alias": "Kit"})
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    assert not Membership.objects.filter(alias="Kit").exists()


def test_join_request_with_alias_and_intention(client, circle, outsider):
    response = login(client, outsider).post(
        url("join", slug=circle.slug), {"alias": "Kit", "intention": "I don't know yet."}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=outsider, circle=circle)
    assert membership.status == MembershipStatus.REQUESTED
    assert (membership.alias, membership.intention) == ("Kit", "I don't know yet.")


def test_member_opening_join_page_goes_to_the_circle(client, circle, member):
    response = login(client, member.user).get(url("join", slug=circle.slug))
    assert response.status_code == 302
    assert response["Location"] == url("circle", slug=circle.slug)


# Refused writes change nothing ----------------------------------------------


def test_member_cannot_approve_or_decline(client, circle, member, requester):
    login(client, member.user)
    for name in ("request_approve", "request_decline"):
        response = client.post(url(name, slug=circle.slug, membership_id=requester.pk))
        assert response.status_code == 404
    requester.refresh_from_db()
    assert requester.status == MembershipStatus.REQUESTED


def test_member_cannot_remove_or_change_roles(client, circle, member, facilitator):
    other = factories.make_member(circle, alias="Other")
    login(client, member.user)
    response = client.post(url("member_remove", slug=circle.slug, membership_id=other.pk))
    assert response.status_code == 404
    response = client.post(
        url("member_role", slug=circle.slug, membership_id=member.pk), {"role": "facilitator"}
    )
    assert response.status_code == 404
    response = client.post(
        url("member_role", slug=circle.slug, membership_id=facilitator.pk), {"role": "member"}
    )
    assert response.status_code == 404
    other.refresh_from_db()
    member.refresh_from_db()
    facilitator.refresh_from_db()
    assert other.status == MembershipStatus.ACTIVE
    assert member.role == Role.MEMBER
    assert facilitator.role == Role.FACILITATOR


def test_member_cannot_create_or_revoke_invites(client, circle, member, facilitator):
    invite = services.invite_create(actor=facilitator, circle=circle)
    login(client, member.user)
    assert client.post(url("invite_create", slug=circle.slug)).status_code == 404
    response = client.post(url("invite_revoke", slug=circle.slug, invite_id=invite.pk))
    assert response.status_code == 404
    assert Invite.objects.filter(circle=circle).count() == 1
    invite.refresh_from_db()
    assert invite.revoked_at is None


def test_outsider_and_anonymous_posts_change_nothing(client, circle, outsider, requester):
    target = url("request_approve", slug=circle.slug, membership_id=requester.pk)
    assert client.post(target).status_code == 302  # anonymous: to the login page
    assert login(client, outsider).post(target).status_code == 404
    requester.refresh_from_db()
    assert requester.status == MembershipStatus.REQUESTED


def test_facilitator_cannot_act_on_another_circles_membership(client, circle, facilitator):
    other = factories.make_circle(name="Elsewhere")
    theirs = factories.make_member(other, alias="Theirs")
    response = login(client, facilitator.user).post(
        url("member_remove", slug=circle.slug, membership_id=theirs.pk)
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == MembershipStatus.ACTIVE


def test_manage_actions_are_post_only(client, circle, facilitator, requester):
    response = login(client, facilitator.user).get(
        url("request_approve", slug=circle.slug, membership_id=requester.pk)
    )
    assert response.status_code == 405


# Facilitators' actions --------------------------------------------------------------------


def test_manage_page_shows_requests_with_alias_and_intention(
    client, circle, facilitator, requester
):
    page = html(login(client, facilitator.user).get(url("manage", slug=circle.slug)))
    assert "Newcomer" in page
    assert "Somewhere to be honest." in page
    assert url("request_approve", slug=circle.slug, membership_id=requester.pk) in page
    assert "csrfmiddlewaretoken" in page


def test_facilitator_approves_and_declines(client, circle, facilitator, requester):
    other = services.membership_request(user=factories.make_user(), circle=circle, alias="Two")
    login(client, facilitator.user)
    response = client.post(url("request_approve", slug=circle.slug, membership_id=requester.pk))
    assert response.status_code == 302
    response = client.post(url("request_decline", slug=circle.slug, membership_id=other.pk))
    assert response.status_code == 302
    requester.refresh_from_db()
    other.refresh_from_db()
    assert requester.status == MembershipStatus.ACTIVE
    assert other.status == MembershipStatus.DECLINED


def test_facilitator_changes_roles_and_removes(client, circle, facilitator, member):
    other = factories.make_member(circle, alias="Leaving")
    login(client, facilitator.user)
    response = client.post(
        url("member_role", slug=circle.slug, membership_id=member.pk), {"role": "facilitator"}
    )
    assert response.status_code == 302
    response = client.post(url("member_remove", slug=circle.slug, membership_id=other.pk))
    assert response.status_code == 302
    member.refresh_from_db()
    other.refresh_from_db()
    assert member.role == Role.FACILITATOR
    assert other.status == MembershipStatus.REMOVED


def test_approving_into_a_full_circle_shows_why(client, facilitator):
    small = factories.make_circle(facilitator=facilitator.user, name="Small", capacity=2)
    factories.make_member(small)
    waiting = services.membership_request(user=factories.make_user(), circle=small, alias="W")
    factories.make_member(small)
    response = login(client, facilitator.user).post(
        url("request_approve", slug=small.slug, membership_id=waiting.pk)
    )
    assert response.status_code == 400
    page = html(response)
    assert 'role="alert"' in page
    assert "This circle is full right now (2 seats)." in page
    waiting.refresh_from_db()
    assert waiting.status == MembershipStatus.REQUESTED


def test_last_facilitator_cannot_step_down(client, circle, facilitator):
    response = login(client, facilitator.user).post(
        url("member_role", slug=circle.slug, membership_id=facilitator.pk), {"role": "member"}
    )
    assert response.status_code == 400
    assert "A circle needs at least one facilitator." in html(response)
    facilitator.refresh_from_db()
    assert facilitator.role == Role.FACILITATOR


# Errors on forms ----------------------------------------------


def test_join_full_circle_shows_the_reason(client, outsider):
    small = factories.make_circle(name="Tiny", capacity=2)
    factories.make_member(small)
    factories.make_member(small)
    response = login(client, outsider).post(url("join", slug=small.slug), {"alias": "Kit"})
    assert response.status_code == 400
    page = html(response)
    assert 'role="alert"' in page
    assert "This circle is full right now (2 seats)." in page
    assert not Membership.objects.filter(user=outsider, circle=small).exists()


def test_join_alias_taken_is_a_field_error_linked_to_the_input(client, circle, member, outsider):
    response = login(client, outsider).post(url("join", slug=circle.slug), {"alias": "sam"})
    assert response.status_code == 400
    page = html(response)
    assert "already uses the name “sam”" in page
    assert 'id="id_alias_error"' in page
    alias_input = re.search(r"<input[^>]*name=\"alias\"[^>]*>", page).group(0)
    assert 'aria-invalid="true"' in alias_input
    assert "id_alias_error" in alias_input  # aria-describedby
    assert 'href="#id_alias"' in page  # the summary links to the field


def test_join_empty_alias_is_refused_with_a_specific_message(client, circle, outsider):
    response = login(client, outsider).post(url("join", slug=circle.slug), {"alias": ""})
    assert response.status_code == 400
    assert "This field is required." in html(response)


def test_join_other_kind_shows_the_separation_message(client, circle, member):
    partners = factories.make_circle(kind=CircleKind.PARTNERS, name="Partners Tuesday")
    response = login(client, member.user).post(url("join", slug=partners.slug), {"alias": "Sam"})
    assert response.status_code == 400
    page = html(response)
    assert "Men&#x27;s circles and partner circles are kept completely separate" in page
    assert circle.name in page
    assert not Membership.objects.filter(user=member.user, circle=partners).exists()


def test_create_circle_requires_the_permission(client, outsider):
    login(client, outsider)
    assert client.get(url("circle_create")).status_code == 403
    response = client.post(url("circle_create"), {"name": "Sneaky", "alias": "Me"})
    assert response.status_code == 403
    assert not Circle.objects.filter(name="Sneaky").exists()


def _circle_post(**overrides) -> dict:
    data = {
        "alias": "Host",
        "name": "Monday Men",
        "kind": "men",
        "description": "A new circle.",
        "weekday": "0",
        "start_time": "19:00",
        "time_zone": "Europe/Dublin",
        "duration_minutes": "90",
        "capacity": "8",
        "listed": "on",
        "call_link": "",
        "region": "IE",
        "agreements": "",
    }
    data.update(overrides)
    return data


def test_create_circle_with_the_permission(client, host):
    login(client, host)
    assert client.get(url("circle_create")).status_code == 200
    response = client.post(url("circle_create"), _circle_post())
    assert response.status_code == 302
    circle = Circle.objects.get(name="Monday Men")
    assert response["Location"] == url("circle", slug=circle.slug)
    assert circle.agreements  # the standard ones
    assert circle.memberships.get(user=host).role == Role.FACILITATOR
    assert circle.meetings.exists()


def test_create_circle_errors_are_specific(client, host):
    response = login(client, host).post(
        url("circle_create"), _circle_post(name="", capacity="40", time_zone="Mars/Base")
    )
    assert response.status_code == 400
    page = html(response)
    assert 'role="alert"' in page
    assert 'id="id_name_error"' in page
    assert 'id="id_capacity_error"' in page
    assert 'id="id_time_zone_error"' in page
    assert not Circle.objects.filter(name="").exists()


def test_edit_circle_saves_through_the_service(client, circle, facilitator):
    data = _circle_post(name="Wednesday Men Renamed", weekday="2", time_zone="Europe/London")
    data.pop("alias")
    response = login(client, facilitator.user).post(url("circle_edit", slug=circle.slug), data)
    assert response.status_code == 302
    circle.refresh_from_db()
    assert circle.name == "Wednesday Men Renamed"


def test_edit_circle_kind_locked_once_it_has_members(client, circle, facilitator, member):
    data = _circle_post(kind="partners", weekday="2", time_zone="Europe/London")
    data.pop("alias")
    response = login(client, facilitator.user).post(url("circle_edit", slug=circle.slug), data)
    assert response.status_code == 400
    page = html(response)
    assert "can&#x27;t change kind" in page
    assert 'id="id_kind_error"' in page
    circle.refresh_from_db()
    assert circle.kind == CircleKind.MEN


# Invites ----------------------------------------------


def test_invite_link_flow(client, facilitator, outsider):
    hidden = factories.make_circle(facilitator=facilitator.user, name="By Invitation", listed=False)
    host_membership = factories.facilitator_of(hidden)
    login(client, host_membership.user)
    response = client.post(url("invite_create", slug=hidden.slug))
    assert response.status_code == 302
    invite = Invite.objects.get(circle=hidden)
    manage_page = html(client.get(url("manage", slug=hidden.slug)))
    full_url = f"http://testserver/invite/{invite.token}/"
    assert full_url in manage_page

    client.logout()
    landing = client.get(url("invite", token=invite.token))
    assert landing.status_code == 200
    assert hidden.name in html(landing)

    login(client, outsider)
    response = client.post(url("invite", token=invite.token), {"alias": "Guest"})
    assert response.status_code == 302
    assert response["Location"] == url("agreements", slug=hidden.slug)
    membership = Membership.objects.get(user=outsider, circle=hidden)
    assert membership.status == MembershipStatus.ACTIVE and membership.invited


def test_revoked_invite_landing_is_a_kind_404(client, circle, facilitator):
    invite = services.invite_create(actor=facilitator, circle=circle)
    response = login(client, facilitator.user).post(
        url("invite_revoke", slug=circle.slug, invite_id=invite.pk)
    )
    assert response.status_code == 302
    invite.refresh_from_db()
    assert invite.revoked_at is not None
    client.logout()
    response = client.get(url("invite", token=invite.token))
    assert response.status_code == 404
    page = html(response)
    assert "expired or was withdrawn" in page
    assert circle.name not in page


def test_expired_and_unknown_invites_are_404(client, circle, facilitator, outsider):
    invite = services.invite_create(actor=facilitator, circle=circle)
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert client.get(url("invite", token=invite.token)).status_code == 404
    assert client.get(url("invite", token="not-a-real-token")).status_code == 404
    response = login(client, outsider).post(url("invite", token=invite.token), {"alias": "Late"})
    assert response.status_code == 404
    assert not Membership.objects.filter(user=outsider).exists()


# Agreements and the room ----------------------------------------------


def test_room_requires_accepted_agreements(client, circle):
    member = factories.make_member(circle, alias="New", accepted=False)
    meeting = factories.make_meeting(circle)
    room = reverse("realtime:meeting_room", kwargs={"meeting_id": meeting.public_id})
    login(client, member.user)

    response = client.get(room)
    assert response.status_code == 302
    agreements_url = url("agreements", slug=circle.slug)
    assert response["Location"].startswith(agreements_url)

    page = client.get(response["Location"])
    assert page.status_code == 200
    assert "What is said here stays here." in html(page)
    assert 'type="checkbox"' in html(page)

    refused = client.post(agreements_url, {"next": room})
    assert refused.status_code == 400
    assert "Please tick the box to accept the agreements." in html(refused)
    member.refresh_from_db()
    assert member.agreements_accepted_at is None

    accepted = client.post(agreements_url, {"accept": "on", "next": room})
    assert accepted.status_code == 302
    assert accepted["Location"] == room

    response = client.get(room)
    assert response.status_code == 200
    assert response.context["ws_path"] == f"/ws/meetings/{meeting.public_id}/"
    assert response.context["membership"].pk == member.pk
    assert response.context["circle"] == circle


def test_agreements_next_must_be_local(client, circle):
    member = factories.make_member(circle, accepted=False)
    response = login(client, member.user).post(
        url("agreements", slug=circle.slug), {"accept": "on", "next": "https://evil.example/"}
    )
    assert response["Location"] == url("circle", slug=circle.slug)


def test_room_refuses_outsiders_and_anonymous(client, circle, outsider, requester):
    meeting = factories.make_meeting(circle)
    room = reverse("realtime:meeting_room", kwargs={"meeting_id": meeting.public_id})
    response = client.get(room)
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]
    assert login(client, outsider).get(room).status_code == 404
    assert login(client, requester.user).get(room).status_code == 404
    missing = reverse(
        "realtime:meeting_room", kwargs={"meeting_id": "00000000-0000-0000-0000-000000000000"}
    )
    assert client.get(missing).status_code == 404


def test_room_opens_for_an_ended_meeting(client, circle, member):
    meeting = factories.make_meeting(circle, status="ended")
    response = login(client, member.user).get(
        reverse("realtime:meeting_room", kwargs={"meeting_id": meeting.public_id})
    )
    assert response.status_code == 200


# Leaving ----------------------------------------------


def test_member_leaves(client, circle, member):
    login(client, member.user)
    assert client.get(url("leave", slug=circle.slug)).status_code == 200
    response = client.post(url("leave", slug=circle.slug))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.status == MembershipStatus.LEFT
    assert client.get(url("circle", slug=circle.slug)).status_code == 404


def test_withdraw_a_pending_request(client, circle, requester):
    response = login(client, requester.user).post(url("leave", slug=circle.slug))
    assert response.status_code == 302
    requester.refresh_from_db()
    assert requester.status == MembershipStatus.LEFT


def test_only_facilitator_cannot_leave(client, circle, facilitator):
    response = login(client, facilitator.user).post(url("leave", slug=circle.slug))
    assert response.status_code == 400
    assert "only facilitator" in html(response)
    facilitator.refresh_from_db()
    assert facilitator.status == MembershipStatus.ACTIVE


# Time zone ----------------------------------------------


def test_profile_sets_the_time_zone(client, circle, member):
    factories.make_meeting(
        circle, status="scheduled", starts_at=timezone.now() + dt.timedelta(days=1)
    )
    login(client, member.user)
    assert client.get(reverse("accounts:profile")).status_code == 200
    response = client.post(reverse("accounts:profile"), {"time_zone": "Asia/Tokyo"})
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.time_zone == "Asia/Tokyo"
    assert "(Asia/Tokyo)" in html(client.get(url("circle", slug=circle.slug)))
    response = client.post(reverse("accounts:profile"), {"time_zone": "Nowhere/Land"})
    assert response.status_code == 400
    assert 'id="id_time_zone_error"' in html(response)


# Query counts ----------------------------------------------


def _busy_world(user):
    """Several circles with members and meetings: enough rows to expose an N+1."""
    for n in range(4):
        owner = factories.make_user(host=True)
        circle = factories.make_circle(facilitator=owner, name=f"Busy {n}")
        for _ in range(3):
            factories.make_member(circle)
        factories.make_meeting(circle)
        if n % 2:
            factories.make_member(circle, user=user)
        services.membership_request(user=factories.make_user(), circle=circle, alias="Waiting")
    mine = factories.make_circle(facilitator=user, name="Hosted by me")
    for i in range(3):
        services.membership_request(user=factories.make_user(), circle=mine, alias=f"R{i}")


def test_dashboard_query_count_is_bounded(client, django_assert_max_num_queries):
    user = factories.make_user(host=True)
    _busy_world(user)
    login(client, user)
    with django_assert_max_num_queries(8):
        response = client.get(url("dashboard"))
    assert response.status_code == 200
    assert html(response).count("Review ") >= 3


def test_directory_query_count_is_bounded(client, django_assert_max_num_queries):
    user = factories.make_user(host=True)
    _busy_world(user)
    login(client, user)
    with django_assert_max_num_queries(6):
        response = client.get(url("directory"))
    assert response.status_code == 200
    assert html(response).count("Busy ") >= 4


def test_circle_and_manage_pages_query_counts_are_bounded(
    client, circle, facilitator, django_assert_max_num_queries
):
    for _ in range(6):
        factories.make_member(circle)
    for _ in range(3):
        services.invite_create(actor=facilitator, circle=circle)
    login(client, facilitator.user)
    with django_assert_max_num_queries(10):
        assert client.get(url("circle", slug=circle.slug)).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(url("manage", slug=circle.slug)).status_code == 200


def test_meetings_listed_on_the_circle_page_are_upcoming_only(client, circle, member):
    past = Meeting.objects.create(
        circle=circle,
        starts_at=timezone.now() - dt.timedelta(days=7),
        ends_at=timezone.now() - dt.timedelta(days=7) + dt.timedelta(minutes=90),
        status="ended",
    )
    page = html(login(client, member.user).get(url("circle", slug=circle.slug)))
    assert str(past.public_id) not in page


# A member's own place in the circle --------------------------------------------------------


def test_member_changes_his_circle_name_and_reason(client, circle, member):
    login(client, member.user)
    page = client.get(url("my_place", slug=circle.slug))
    assert page.status_code == 200
    assert 'value="Sam"' in html(page)
    response = client.post(
        url("my_place", slug=circle.slug), {"alias": "  Samuel ", "intention": "To be heard."}
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.alias, member.intention) == ("Samuel", "To be heard.")


def test_a_name_already_taken_is_refused_on_the_page(client, circle, member):
    factories.make_member(circle, alias="Jo")
    login(client, member.user)
    response = client.post(url("my_place", slug=circle.slug), {"alias": "jo", "intention": ""})
    assert response.status_code == 400
    assert "already uses" in html(response)
    member.refresh_from_db()
    assert member.alias == "Sam"


@pytest.mark.parametrize(
    "body",
    [
        "alias=Sam%00uel&intention=",  # U+0000: Django's forms refuse it
        "alias=Sam&intention=To%00be",
        "alias=Sam%ED%A0%80&intention=",  # half a surrogate pair: decoded as U+FFFD
        "alias=Sam%01uel&intention=",  # control characters: refused like U+0000
        "alias=Sam&intention=To%1Bbe",
    ],
)
def test_text_the_database_cannot_keep_never_reaches_it_from_a_page(client, circle, member, body):
    """The pages' side of the room's `invalid` for U+0000 and lone surrogates."""
    login(client, member.user)
    before = (member.alias, member.intention)
    response = client.post(
        url("my_place", slug=circle.slug), body, content_type="application/x-www-form-urlencoded"
    )
    member.refresh_from_db()
    assert printable(member.alias + member.intention)
    assert all(not 0xD800 <= ord(c) <= 0xDFFF for c in member.alias + member.intention)
    if "%ED" not in body:
        assert response.status_code == 400
        assert (member.alias, member.intention) == before


@pytest.mark.parametrize("who", ["anonymous", "outsider", "requester"])
def test_only_members_reach_their_place(client, circle, member, outsider, requester, who):
    if who == "outsider":
        login(client, outsider)
    elif who == "requester":
        login(client, requester.user)
    response = client.post(url("my_place", slug=circle.slug), {"alias": "Hijack", "intention": ""})
    if who == "anonymous":
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == 404
    assert not Membership.objects.filter(alias="Hijack").exists()
