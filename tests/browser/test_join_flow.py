"""A new person signs up, asks to join a circle with his own reason, is welcomed in by
the facilitator, accepts the agreements and sees the circle: in a real browser."""

import re

import pytest
from playwright.sync_api import expect

from groups.models import Membership
from tests import factories

pytestmark = pytest.mark.browser


def test_new_person_signs_up_and_is_welcomed_into_a_circle(open_page):
    host = factories.make_user(host=True)
    circle = factories.make_circle(facilitator=host, name="Thursday Men")

    newcomer = open_page(width=390, height=844)  # a phone
    newcomer.goto("/")
    newcomer.get_by_role("link", name=re.compile("sign up|create an account", re.I)).first.click()
    newcomer.fill("input[name=email]", "dan@example.org")
    newcomer.fill("input[name=password1]", "a-long-test-passphrase-42")
    newcomer.fill("input[name=password2]", "a-long-test-passphrase-42")
    newcomer.locator("form").filter(has=newcomer.locator("input[name=password2]")).locator(
        "button[type=submit]"
    ).click()
    expect(newcomer).to_have_url(re.compile(r"/dashboard/"))

    newcomer.goto("/circles/")
    newcomer.get_by_role("link", name=re.compile("Thursday Men")).first.click()
    expect(newcomer.get_by_role("heading", name="Ask to join")).to_be_visible()
    newcomer.get_by_label("What should the circle call you?").fill("Dan")
    newcomer.get_by_label("What do you want from this circle?").fill("Somewhere to talk.")
    newcomer.get_by_role("button", name=re.compile("send my request", re.I)).click()
    expect(newcomer.locator("body")).to_contain_text(re.compile("request|asked", re.I))
    membership = Membership.objects.get(user__email="dan@example.org", circle=circle)
    assert membership.status == "requested"
    assert membership.intention == "Somewhere to talk."

    facilitator = open_page(host)
    facilitator.goto(f"/circles/{circle.slug}/manage/")
    expect(facilitator.locator("body")).to_contain_text("Somewhere to talk.")
    facilitator.get_by_role("button", name=re.compile("Welcome in\\s+Dan")).click()
    expect(facilitator.locator("body")).to_contain_text("Dan")
    membership.refresh_from_db()
    assert membership.status == "active"

    newcomer.goto(f"/circles/{circle.slug}/agreements/")
    newcomer.get_by_label(re.compile("I have read these agreements")).check()
    newcomer.get_by_role("button", name=re.compile("Accept and continue")).click()
    membership.refresh_from_db()
    assert membership.has_accepted_agreements
    newcomer.goto(f"/circles/{circle.slug}/")
    expect(newcomer.locator("main")).to_contain_text("Dan")
    expect(newcomer.locator("main")).not_to_contain_text("dan@example.org")
