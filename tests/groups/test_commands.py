"""The management commands: demo data that can be loaded any number of times, and
meeting generation that is safe to run from cron."""

import io

import pytest
from django.core.management import call_command

from accounts.models import User
from groups.models import Circle, Meeting, MeetingStatus, Membership, MembershipStatus
from tests import factories

pytestmark = pytest.mark.django_db


def run(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out)
    return out.getvalue()


def counts() -> dict[str, int]:
    return {
        "users": User.objects.count(),
        "circles": Circle.objects.count(),
        "memberships": Membership.objects.count(),
        "active": Membership.objects.filter(status=MembershipStatus.ACTIVE).count(),
        "meetings": Meeting.objects.count(),
        "live": Meeting.objects.filter(status=MeetingStatus.LIVE).count(),
    }


def test_seed_demo_is_idempotent_and_prints_the_logins():
    first = run("seed_demo")
    after_first = counts()
    second = run("seed_demo")
    assert counts() == after_first
    assert first == second

    assert "facilitator@example.org" in first
    assert "admin@example.org" in first
    assert "hearth-demo-passphrase" in first
    assert "Tuesday Evening Men" in first


def test_seed_demo_builds_a_usable_world():
    run("seed_demo")
    men = Circle.objects.get(name="Tuesday Evening Men")
    partners = Circle.objects.get(kind="partners")
    admin = User.objects.get(email="admin@example.org")
    assert admin.is_superuser and admin.is_staff
    facilitator = User.objects.get(email="facilitator@example.org")
    assert facilitator.can_host_circles
    for circle in (men, partners):
        members = circle.memberships.filter(status=MembershipStatus.ACTIVE, role="member")
        assert members.count() >= 3
        assert all(m.has_accepted_agreements and m.intention for m in members)
        live = circle.meetings.get(status=MeetingStatus.LIVE)
        assert live.opened_at is not None
        assert live.starts_at < live.opened_at < live.ends_at
        assert circle.meetings.filter(status=MeetingStatus.SCHEDULED).count() >= 4
    # The two worlds never share a member.
    men_users = set(men.memberships.filter(role="member").values_list("user_id", flat=True))
    partner_users = set(
        partners.memberships.filter(role="member").values_list("user_id", flat=True)
    )
    assert not men_users & partner_users


def test_seed_demo_logins_work(client):
    run("seed_demo")
    response = client.post(
        "/accounts/login/", {"login": "dan@example.org", "password": "hearth-demo-passphrase"}
    )
    assert response.status_code == 302
    assert "Tuesday Evening Men" in client.get("/dashboard/").content.decode()


def test_generate_meetings_creates_and_is_idempotent(settings):
    settings.HEARTH_MEETING_WEEKS_AHEAD = 6
    circle = factories.make_circle(name="Cron Circle")
    other = factories.make_circle(name="Other Circle")
    Meeting.objects.all().delete()

    out = run("generate_meetings")
    assert circle.meetings.count() == 6
    assert other.meetings.count() == 6
    assert "12 new meeting(s) across 2 circle(s)" in out

    out = run("generate_meetings")
    assert Meeting.objects.count() == 12
    assert "0 new meeting(s)" in out
