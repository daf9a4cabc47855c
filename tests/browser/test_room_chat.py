"""The live room in a real browser: a facilitator and two members chat; one member
loses his connection (offline mode), messages go on without him, he writes while
offline, and when he comes back he has missed nothing and nothing is doubled."""

import re

import pytest
from playwright.sync_api import expect

from groups.models import MeetingStatus
from room.models import MeetingEvent
from tests import factories

pytestmark = pytest.mark.browser


def send(page, body: str) -> None:
    page.get_by_test_id("message-input").fill(body)
    page.get_by_test_id("send-button").click()


def bodies(page) -> list[str]:
    return page.get_by_test_id("message-body").all_inner_texts()


def test_chat_survives_a_dropped_connection(open_page):
    host = factories.make_user(host=True)
    circle = factories.make_circle(
        facilitator=host, name="Monday Men", call_link="https://call.example.org/monday"
    )
    sam = factories.make_member(circle, alias="Sam")
    ali = factories.make_member(circle, alias="Ali")
    meeting = factories.make_meeting(circle, status=MeetingStatus.LIVE)
    url = f"/meetings/{meeting.public_id}/"

    pages = {}
    for name, user in (("host", host), ("sam", sam.user), ("ali", ali.user)):
        page = open_page(user, width=390, height=844) if name == "ali" else open_page(user)
        page.goto(url)
        expect(page.get_by_test_id("room")).to_have_attribute("data-ready", "true")
        expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")
        pages[name] = page
    host, sam_page, ali_page = pages["host"], pages["sam"], pages["ali"]
    expect(sam_page.get_by_test_id("call-link")).to_have_attribute(
        "href", "https://call.example.org/monday"
    )
    expect(host.get_by_test_id("presence-list")).to_contain_text("Sam")
    expect(host.get_by_test_id("presence-list")).to_contain_text("Ali")

    send(host, "Welcome, everyone.")
    send(sam_page, "Good to be here.")
    send(ali_page, "<b>Hi</b> from my phone")
    for page in (host, sam_page, ali_page):
        expect(page.get_by_test_id("message-body")).to_have_count(3)
    # Text, never HTML.
    expect(host.get_by_test_id("message-body").last).to_have_text("<b>Hi</b> from my phone")
    expect(host.get_by_test_id("live-region")).to_contain_text(re.compile("Ali"))

    # Sam drops off. The others keep talking; Sam writes while offline.
    sam_page.context.set_offline(True)
    expect(sam_page.get_by_test_id("connection-status")).not_to_have_attribute(
        "data-status", "open", timeout=15_000
    )
    send(host, "Sam, we'll wait for you.")
    send(ali_page, "Still here.")
    send(sam_page, "Sorry, my wifi dropped.")
    expect(sam_page.get_by_test_id("outbox-item")).to_have_count(1)

    sam_page.context.set_offline(False)
    expect(sam_page.get_by_test_id("connection-status")).to_have_attribute(
        "data-status", "open", timeout=20_000
    )
    expected = [
        "Welcome, everyone.",
        "Good to be here.",
        "<b>Hi</b> from my phone",
        "Sam, we'll wait for you.",
        "Still here.",
        "Sorry, my wifi dropped.",
    ]
    for page in (host, sam_page, ali_page):
        expect(page.get_by_test_id("message-body")).to_have_count(6, timeout=15_000)
        assert bodies(page) == expected
    expect(sam_page.get_by_test_id("outbox-item")).to_have_count(0)
    stored = list(
        MeetingEvent.objects.filter(meeting=meeting, type="chat.message")
        .order_by("seq")
        .values_list("payload__body", flat=True)
    )
    assert stored == expected
