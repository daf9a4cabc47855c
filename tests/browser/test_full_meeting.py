"""A whole meeting in a real browser: a facilitator and three members in separate
browser contexts go through agenda steps, a check-in round with feeling words and
one pass, the talking order in progressive mode, and a check-out round. Screenshots
of the member's and the facilitator's view are saved under docs/screenshots/."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from facilitation.models import FeelingShare, Turn
from groups.models import MeetingStatus
from tests import factories

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def wait_ready(page):
    expect(page.get_by_test_id("room")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")


def start_round(host, kind: str, prompt: str) -> None:
    host.get_by_test_id("round-kind").select_option(kind)
    host.get_by_test_id("round-order-select").select_option("seating")
    host.get_by_test_id("round-prompt").fill(prompt)
    host.get_by_test_id("start-round").click()


def go_to_step(host, title: str) -> None:
    step = host.get_by_test_id("console-agenda").locator("li", has_text=title)
    step.get_by_test_id("agenda-step-button").click()


def speaker_is(pages: dict, alias: str) -> None:
    """Everyone sees whose turn it is; the speaker is told it's his."""
    for who, page in pages.items():
        expected = "your turn" if who == alias else alias
        expect(page.get_by_test_id("current-speaker")).to_contain_text(expected)


def test_a_full_meeting(open_page, library):
    host_user = factories.make_user(host=True)
    circle = factories.make_circle(
        facilitator=host_user, name="Tuesday Men", facilitator_alias="Tom"
    )
    members = [factories.make_member(circle, alias=a) for a in ("Dan", "Marcus", "Raj")]
    meeting = factories.make_meeting(circle, status=MeetingStatus.SCHEDULED)
    url = f"/meetings/{meeting.public_id}/"

    host = open_page(host_user, width=1280, height=1000)
    host.goto(url)
    wait_ready(host)
    dan, marcus, raj = (open_page(m.user, width=390, height=844) for m in members)
    for page in (dan, marcus, raj):
        page.goto(url)
        wait_ready(page)
    everyone = {"Tom": host, "Dan": dan, "Marcus": marcus, "Raj": raj}

    # The circle opens; the agenda's first steps are shown to members with their purpose.
    host.get_by_test_id("open-meeting").click()
    for page in everyone.values():
        expect(page.get_by_test_id("room")).to_have_attribute("data-status", "live")
    go_to_step(host, "Arrival and agreements")
    expect(dan.get_by_test_id("agenda-step")).not_to_be_empty()
    go_to_step(host, "Check-in round")
    expect(dan.get_by_test_id("agenda-step")).to_contain_text("Check-in")

    # Check-in round in seating order: Tom (facilitator first to join), Dan, Marcus, Raj.
    start_round(host, "check_in", "What's one thing from your week you'd like us to know?")
    speaker_is(everyone, "Tom")
    expect(dan.get_by_test_id("round-prompt-text")).to_contain_text("one thing from your week")
    expect(dan.get_by_test_id("up-next")).to_contain_text("You")
    host.get_by_test_id("done-turn").click()

    speaker_is(everyone, "Dan")
    dan.locator("[data-testid=feelings-family][data-family=sad]").click()
    dan.locator("[data-testid=feelings-word][data-word=tired]").click()
    dan.locator("[data-testid=feelings-family][data-family=glad]").click()
    dan.locator("[data-testid=feelings-word][data-word=hopeful]").click()
    dan.get_by_test_id("weather-input").select_option("6")
    dan.get_by_test_id("feelings-share").click()
    for page in everyone.values():
        expect(page.get_by_test_id("feelings-line").first).to_contain_text("tired")
    # While Dan speaks, Marcus can react but not write.
    expect(marcus.get_by_test_id("chat-reason")).to_contain_text("Dan")
    dan.get_by_test_id("message-input").fill("Long week at work, but I slept well last night.")
    dan.get_by_test_id("send-button").click()
    expect(marcus.get_by_test_id("message-body").last).to_contain_text("Long week")
    marcus.get_by_test_id("react-heard").last.click()
    dan.get_by_test_id("done-turn").click()

    speaker_is(everyone, "Marcus")
    marcus.get_by_test_id("pass-turn").click()
    expect(marcus.get_by_test_id("pass-ack")).to_be_visible()
    expect(host.get_by_test_id("coaching-card")).to_be_visible()

    speaker_is(everyone, "Raj")
    raj.get_by_test_id("done-turn").click()
    for page in everyone.values():
        expect(page.get_by_test_id("current-speaker")).to_have_count(0)

    shared = FeelingShare.objects.get(membership=members[0])
    assert shared.words == ["tired", "hopeful"]
    assert shared.weather == 6
    outcomes = dict(
        Turn.objects.filter(round__meeting=meeting).values_list("membership__alias", "outcome")
    )
    assert outcomes == {"Tom": "done", "Dan": "done", "Marcus": "passed", "Raj": "done"}

    # Talking order, progressive: Dan spoke, Marcus passed, so Marcus goes ahead of Dan
    # even though Dan raised his hand first.
    host.get_by_test_id("progressive-toggle").click()
    expect(host.get_by_test_id("progressive-toggle")).to_have_attribute("aria-pressed", "true")
    dan.get_by_test_id("raise-hand").click()
    expect(host.get_by_test_id("queue-control-row")).to_have_count(1)
    marcus.get_by_test_id("raise-hand").click()
    expect(host.get_by_test_id("queue-control-row")).to_have_count(2)
    expect(host.get_by_test_id("queue-control-row").first).to_contain_text("Marcus")
    expect(dan.get_by_test_id("queue-position")).to_contain_text("2")
    host.get_by_test_id("floor-grant").first.click()
    for who, page in everyone.items():
        holder = "You have the floor" if who == "Marcus" else "Marcus"
        expect(page.get_by_test_id("floor-holder")).to_contain_text(holder)
    marcus.get_by_test_id("message-input").fill(
        "I passed before, but I'd like to say something now."
    )
    marcus.get_by_test_id("send-button").click()
    expect(dan.get_by_test_id("message-body").last).to_contain_text("I'd like to say")
    host.get_by_test_id("floor-release").click()

    # Check-out round: the facilitator moves it along.
    go_to_step(host, "Check-out round")
    expect(raj.get_by_test_id("agenda-step")).to_contain_text("Check-out")
    start_round(host, "check_out", "One word for how you leave tonight?")
    speaker_is(everyone, "Tom")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    host.screenshot(path=SCREENSHOTS / "facilitator-view.png", full_page=True)
    dan.screenshot(path=SCREENSHOTS / "member-view.png", full_page=True)
    for alias in ("Tom", "Dan", "Marcus", "Raj"):
        speaker_is({"Tom": host}, alias)
        host.get_by_test_id("round-next").click()
    for page in everyone.values():
        expect(page.get_by_test_id("current-speaker")).to_have_count(0)
