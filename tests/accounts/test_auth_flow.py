"""Signing up, in and out through django-allauth's real views, restyled by our
templates, and the promise that nobody else's email appears on a circle page."""

import pytest
from django.urls import reverse

from accounts.models import User
from groups import services
from tests import factories

pytestmark = pytest.mark.django_db


PASSWORD = "a-long-test-passphrase-42"


def html(response) -> str:
    return response.content.decode()


def test_signup_by_email_logs_in(client):
    page = client.get(reverse("account_signup"))
    assert page.status_code == 200
    assert "css/hearth.css" in html(page)  # our layout, not allauth's bare one
    assert 'name="username"' not in html(page)
    response = client.post(
        reverse("account_signup"),
        {"email": "New.Person@Example.org", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.person@example.org")
    assert user.check_password(PASSWORD)
    assert client.get(reverse("groups:dashboard")).status_code == 200


def test_signup_with_a_taken_email_gets_a_clear_error(client):
    factories.make_user(email="taken@example.org")
    response = client.post(
        reverse("account_signup"),
        {"email": "taken@example.org", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 200  # allauth's own re-render status
    page = html(response)
    assert "A user is already registered with this email address." in page
    assert 'role="alert"' in page
    assert 'id="id_email_error"' in page
    assert User.objects.filter(email="taken@example.org").count() == 1


def test_signup_password_mismatch_is_explained(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "x@example.org", "password1": PASSWORD, "password2": PASSWORD + "x"},
    )
    assert "You must type the same password each time." in html(response)
    assert not User.objects.filter(email="x@example.org").exists()


def test_login_is_by_email_and_lands_on_the_dashboard(client):
    factories.make_user(email="sam@example.org")
    page = client.get(reverse("account_login"))
    assert page.status_code == 200
    assert 'type="email"' in html(page)
    response = client.post(
        reverse("account_login"), {"login": "sam@example.org", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("groups:dashboard")


def test_login_with_a_wrong_password_shows_an_error(client):
    factories.make_user(email="sam@example.org")
    response = client.post(reverse("account_login"), {"login": "sam@example.org", "password": "no"})
    assert response.status_code == 200
    page = html(response)
    assert 'role="alert"' in page
    assert "not correct" in page


def test_logout_through_the_real_view(client):
    user = factories.make_user()
    client.force_login(user)
    assert client.get(reverse("account_logout")).status_code == 200
    response = client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert client.get(reverse("groups:dashboard")).status_code == 302  # back to login


def test_password_reset_sends_an_email(client, mailoutbox):
    factories.make_user(email="forgetful@example.org")
    page = client.get(reverse("account_reset_password"))
    assert page.status_code == 200
    response = client.post(reverse("account_reset_password"), {"email": "forgetful@example.org"})
    assert response.status_code == 302
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["forgetful@example.org"]
    assert client.get(response["Location"]).status_code == 200


def test_nobody_elses_email_appears_on_any_circle_page(client, circle, facilitator, member):
    other = factories.make_member(circle, alias="Jon")
    waiting = services.membership_request(
        user=factories.make_user(), circle=circle, alias="Waiting", intention="Hello"
    )
    factories.make_meeting(circle)
    services.invite_create(actor=facilitator, circle=circle)
    pages = [
        reverse("groups:dashboard"),
        reverse("groups:directory"),
        reverse("groups:circle", kwargs={"slug": circle.slug}),
        reverse("groups:join", kwargs={"slug": circle.slug}),
        reverse("groups:agreements", kwargs={"slug": circle.slug}),
        reverse("groups:leave", kwargs={"slug": circle.slug}),
    ]
    everyone = {
        facilitator.user.email,
        member.user.email,
        other.user.email,
        waiting.user.email,
    }
    for viewer in (member.user, facilitator.user):
        client.force_login(viewer)
        viewer_pages = pages
        if viewer == facilitator.user:
            viewer_pages = [
                *pages,
                reverse("groups:manage", kwargs={"slug": circle.slug}),
                reverse("groups:circle_edit", kwargs={"slug": circle.slug}),
            ]
        for path in viewer_pages:
            response = client.get(path, follow=True)
            assert response.status_code == 200, path
            page = html(response)
            for email in everyone - {viewer.email}:
                assert email not in page, (path, email)
    assert "Jon" in html(client.get(reverse("groups:circle", kwargs={"slug": circle.slug})))
