"""The room page's newer client behaviour in a real browser: a facilitator's console counts
open flags and marks one as looked at; a window replaced by a newer one (close 4409) says
so kindly and can take the circle back.

The socket goes to the real server through Playwright's websocket routing, which lets a
test play one side of a frame: the 4409 close (the server closes the oldest of a person's
sockets past three) and the answer to `report.resolve`, so these tests check the page
against the protocol; the server's side of both has its own tests."""

import json

import pytest
from playwright.sync_api import expect

from groups.models import MeetingStatus
from tests import factories

pytestmark = pytest.mark.browser

WS = "**/ws/meetings/**"


def wait_ready(page):
    expect(page.get_by_test_id("room")).to_have_attribute("data-ready", "true")
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")


def send(page, body: str) -> None:
    page.get_by_test_id("message-input").fill(body)
    page.get_by_test_id("send-button").click()


def test_console_counts_flags_and_marks_one_as_looked_at(open_page):
    host_user = factories.make_user(host=True)
    circle = factories.make_circle(facilitator=host_user, facilitator_alias="Tom")
    sam = factories.make_member(circle, alias="Sam")
    ali = factories.make_member(circle, alias="Ali")
    meeting = factories.make_meeting(circle, status=MeetingStatus.LIVE)
    url = f"/meetings/{meeting.public_id}/"

    host = open_page(host_user)
    resolves: list[dict] = []
    me = {"membership_id": None, "alias": "Tom", "role": "facilitator"}

    def play_resolve(ws):
        server = ws.connect_to_server()

        def from_page(message):
            frame = json.loads(message)
            if frame.get("type") != "report.resolve":
                server.send(message)
                return
            resolves.append(frame)
            ws.send(json.dumps({"type": "ack", "ref": frame["id"], "seq": None}))
            ws.send(
                json.dumps(
                    {
                        "type": "report.resolved",
                        "report_id": frame["report_id"],
                        "by": me,
                        "reports_open": 0,
                    }
                )
            )

        ws.on_message(from_page)

    host.route_web_socket(WS, play_resolve)
    host.goto(url)
    wait_ready(host)
    me["membership_id"] = int(host.get_by_test_id("room").get_attribute("data-membership-id"))
    expect(host.get_by_test_id("flags-list")).to_contain_text("No flags")

    members = {}
    for name, user in (("sam", sam.user), ("ali", ali.user)):
        page = open_page(user, width=390, height=844)
        page.goto(url)
        wait_ready(page)
        members[name] = page
    send(members["ali"], "Something that doesn't sit right")
    sam_page = members["sam"]
    expect(sam_page.get_by_test_id("message-body")).to_have_count(1)
    sam_page.get_by_test_id("report-message").click()
    sam_page.get_by_test_id("report-reason").fill("It felt unkind")
    sam_page.get_by_test_id("report-send").click()
    expect(sam_page.get_by_test_id("report-done")).to_be_visible()

    expect(host.get_by_test_id("flags-count")).to_have_text("1 open flag")
    flag = host.get_by_test_id("flag-item")
    expect(flag).to_contain_text("Sam flagged a message from Ali")
    expect(flag).to_contain_text("It felt unkind")
    expect(host.get_by_test_id("live-region")).to_contain_text("reported")

    # A facilitator who reloads gets the open flags and their count in his snapshot.
    host.reload()
    wait_ready(host)
    expect(host.get_by_test_id("flags-count")).to_have_text("1 open flag")
    expect(host.get_by_test_id("flag-item")).to_have_count(1)

    host.get_by_test_id("flag-resolve").click()
    expect(host.get_by_test_id("flag-item")).to_have_count(0)
    expect(host.get_by_test_id("flags-count")).to_have_count(0)
    expect(host.get_by_test_id("flags-list")).to_contain_text("No flags")
    assert len(resolves) == 1 and isinstance(resolves[0]["report_id"], int)
    expect(host.get_by_test_id("live-region")).to_contain_text("Marked as looked at.")


def test_a_replaced_window_says_so_and_can_take_the_circle_back(open_page):
    host_user = factories.make_user(host=True)
    circle = factories.make_circle(facilitator=host_user)
    sam = factories.make_member(circle, alias="Sam")
    meeting = factories.make_meeting(circle, status=MeetingStatus.LIVE)

    sockets = []

    def through(ws):
        sockets.append((ws, ws.connect_to_server()))

    page = open_page(sam.user, width=390, height=844)
    page.route_web_socket(WS, through)
    page.goto(f"/meetings/{meeting.public_id}/")
    wait_ready(page)
    send(page, "Hello from my phone")
    expect(page.get_by_test_id("message-body")).to_have_count(1)

    # The server replaced this socket: a fourth window of his opened elsewhere.
    ws, server = sockets[-1]
    server.close()
    ws.close(code=4409, reason="replaced")
    detail = page.get_by_test_id("connection-detail")
    expect(detail).to_contain_text("This circle is open in another window or on another device")
    expect(page.get_by_test_id("connection-status")).to_contain_text("Open in another window")
    expect(page.get_by_test_id("connection-reconnect")).to_have_text("Use this window instead")
    expect(page.get_by_test_id("live-region")).to_contain_text("open in another window")
    expect(page.get_by_test_id("chat-reason")).to_contain_text("open in another window")
    # Offered beside the message box too: on a phone the notice is scrolled away.
    expect(page.get_by_test_id("composer-reconnect")).to_have_text("Use this window instead")
    page.wait_for_timeout(1500)
    assert len(sockets) == 1, "4409 is final: no reconnect by itself"

    page.get_by_test_id("composer-reconnect").click()
    expect(page.get_by_test_id("connection-status")).to_have_attribute("data-status", "open")
    expect(detail).to_be_hidden()
    expect(page.get_by_test_id("composer-reconnect")).to_have_count(0)
    assert len(sockets) == 2
    expect(page.get_by_test_id("message-input")).to_be_focused()
    expect(page.get_by_test_id("live-region")).to_contain_text("Back in the room.")
    send(page, "Back on this window")
    expect(page.get_by_test_id("message-body")).to_have_count(2)
    expect(page.get_by_test_id("message-body").last).to_have_text("Back on this window")
