"""Moderation and safety in the live room: permissions re-checked on every frame,
facilitator-only frames, removing, muting, deleting, reactions, reports and crisis
alerts (PROTOCOL.md, Facilitator frames and Rules)."""

import json

import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from groups import services as group_services
from groups.models import Membership, MembershipStatus
from groups.regions import help_lines_for
from realtime.dispatch import ROUTES, Who
from realtime.models import MessageReport
from room.models import MeetingEvent
from tests import factories
from tests.realtime.conftest import events_of, room_state, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def chat(body, client_id):
    return {"type": "chat.send", "body": body, "client_id": client_id}


def of_type(kind):
    return lambda frame: frame["type"] == kind


@database_sync_to_async
def reload(membership) -> Membership:
    return Membership.objects.get(pk=membership.pk)


# Permissions are checked per frame, against the database ---------------------------------


@database_sync_to_async
def remove_elsewhere(facilitator, member) -> None:
    """He is removed in the database by something the rooms never hear of (an admin's
    SQL, another deployment's process): another connection, not the websocket, and no
    socket closed for him. The page's own button closes them (test_smoke)."""
    Membership.objects.filter(pk=member.pk).update(status=MembershipStatus.REMOVED)


async def test_member_removed_elsewhere_is_refused_on_his_next_frame(
    room, facilitator, member, ws_connect
):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        assert (await sam.request(chat("before", "c1")))["seq"] == 1
        await remove_elsewhere(facilitator, member)
        before = await room_state(room)
        reply = await sam.request(chat("after", "c2"))
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        assert await sam.receive_close() == 4403
        assert await room_state(room) == before
        await host.still_works()
    async with ws_connect(sam_user, room, expect_snapshot=False) as again:
        assert await again.receive_close() == 4403


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "resync", "after": 0},
        {"type": "hand.raise"},
        {"type": "reaction.send", "target_seq": 1, "kind": "heard"},
        {"type": "chat.send", "body": "again", "client_id": "c1"},  # even a retry
    ],
    ids=lambda f: f["type"],
)
async def test_every_frame_rechecks_membership(frame, room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room), ws_connect(sam_user, room) as sam:
        assert (await sam.request(chat("hello", "c1")))["seq"] == 1
        await remove_elsewhere(facilitator, member)
        before = await room_state(room)
        reply = await sam.request(frame)
        assert reply["type"] == "error" and reply["code"] == "forbidden"
        assert await sam.receive_close() == 4403
        assert await room_state(room) == before


async def test_changed_agreements_refuse_the_next_frame(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        # Changed behind the rooms' back (the page's own edit closes his socket at once:
        # test_smoke): his next frame is refused all the same.
        await database_sync_to_async(
            lambda: (
                type(room.circle)
                .objects.filter(pk=room.circle_id)
                .update(agreements="We changed them.", agreements_updated_at=timezone.now())
            )
        )()
        reply = await sam.request(chat("hi", "c1"))
        assert reply["code"] == "forbidden"
        assert await sam.receive_close() == 4403
        # Facilitators hold the agreements: the host carries on.
        assert (await host.request(chat("still here", "h1")))["seq"] == 1


# Facilitator-only frames -----------------------------------------------------------------


def facilitator_frames(member, facilitator, other_member):
    return [
        {"type": "meeting.open"},
        {"type": "meeting.end"},
        {"type": "phase.set", "step_id": None},
        {"type": "round.start", "kind": "check_in", "order": "seating"},
        {"type": "round.next", "turn_id": 1},
        {"type": "round.skip", "turn_id": 1},
        {"type": "round.end"},
        {"type": "floor.grant", "membership_id": member.pk},
        {"type": "floor.release"},
        {"type": "queue.move", "membership_id": member.pk, "position": 0},
        {"type": "queue.remove", "membership_id": member.pk},
        {"type": "queue.mode", "talking_piece": True, "progressive": True},
        {"type": "prompt.push", "prompt": "What are you carrying tonight?"},
        {"type": "member.mute", "membership_id": other_member.pk, "minutes": 10},
        {"type": "member.unmute", "membership_id": other_member.pk},
        {"type": "member.remove", "membership_id": other_member.pk},
        {"type": "message.delete", "target_seq": 1},
    ]


async def test_members_cannot_send_facilitator_frames(
    room, facilitator, member, other_member, ws_connect
):
    frames = facilitator_frames(member, facilitator, other_member)
    facilitator_only = {c.type for c, route in ROUTES.items() if route.who is Who.FACILITATOR}
    # report.resolve is tried on its own (a member may not resolve flags), below.
    assert {f["type"] for f in frames} == facilitator_only - {"report.resolve"}, "cover every one"
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        assert (await alex.request(chat("something to delete", "a1")))["seq"] == 1
        assert (await sam.request({"type": "hand.raise"}))["type"] == "ack"
        for client in (host, alex):
            await client.receive_until(of_type("queue.updated"))
        before = await room_state(room)
        for frame in frames:
            reply = await sam.request(frame)
            assert reply["type"] == "error", (frame, reply)
            assert reply["code"] == "forbidden", (frame, reply)
            assert reply["message"]
        assert await room_state(room) == before
        assert await host.nothing_pending()
        assert await alex.nothing_pending()
        # The refusals closed nothing: both keep working.
        newest = before["events"][-1][0]
        assert (await sam.request({"type": "hand.lower"}))["seq"] == newest + 1
        assert (await alex.request(chat("still here", "a2")))["seq"] == newest + 2


# member.remove ---------------------------------------------------------------------------


async def test_facilitator_removes_a_member(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(sam_user, room) as sam_tab,
        ws_connect(alex_user, room) as alex,
    ):
        assert (await sam.request({"type": "hand.raise"}))["type"] == "ack"
        reply = await host.request({"type": "member.remove", "membership_id": member.pk})
        assert reply["type"] == "ack", reply
        seen = []
        while not seen or seen[-1]["type"] != "member.removed":
            seen.append(await alex.receive())
        removed = seen[-1]
        assert removed["membership_id"] == member.pk
        assert removed["seq"] == reply["seq"]
        queue = [f for f in seen if f["type"] == "queue.updated"][-1]
        assert queue["queue"] == []  # he left the speaking queue too
        assert queue["seq"] == removed["seq"] - 1
        for client in (sam, sam_tab):
            assert await client.receive_close() == 4403
        assert (await reload(member)).status == MembershipStatus.REMOVED
        await alex.still_works()
    async with ws_connect(sam_user, room, expect_snapshot=False) as again:
        assert await again.receive_close() == 4403


async def test_remove_refusals(room, circle, facilitator, member, ws_connect):
    stranger = await database_sync_to_async(
        lambda: factories.make_member(factories.make_circle())
    )()
    (host_user,) = await users_of(facilitator)
    async with ws_connect(host_user, room) as host:
        before = await room_state(room)
        reply = await host.request({"type": "member.remove", "membership_id": facilitator.pk})
        assert reply["code"] == "forbidden"  # not himself
        reply = await host.request({"type": "member.remove", "membership_id": stranger.pk})
        assert reply["code"] == "not_found"  # not someone from another circle
        reply = await host.request({"type": "member.remove", "membership_id": 10**9})
        assert reply["code"] == "not_found"
        assert await room_state(room) == before
        await host.still_works()


# Mute ------------------------------------------------------------------------------------


async def test_mute_and_unmute(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        reply = await host.request(
            {"type": "member.mute", "membership_id": member.pk, "minutes": 5}
        )
        assert reply["type"] == "ack"
        muted = await alex.receive_until(of_type("member.muted"))
        assert muted["membership_id"] == member.pk and muted["until"]
        assert (await reload(member)).muted_until is not None

        before = await room_state(room)
        for n in range(2):
            reply = await sam.request(chat("can I speak?", f"m{n}"))
            assert reply["code"] == "muted"
        assert await room_state(room) == before
        assert await alex.nothing_pending()
        assert (await alex.request(chat("I can", "a1")))["type"] == "ack"

        reply = await host.request({"type": "member.unmute", "membership_id": member.pk})
        assert reply["type"] == "ack"
        unmuted = await alex.receive_until(of_type("member.unmuted"))
        assert unmuted["membership_id"] == member.pk
        # The refused client_id was never stored: it goes through now.
        reply = await sam.request(chat("thank you", "m0"))
        assert reply["type"] == "ack"
        assert (await reload(member)).muted_until is None


async def test_facilitators_cannot_be_muted(room, circle, facilitator, ws_connect):
    co_host = await database_sync_to_async(_co_facilitator)(circle, facilitator)
    (host_user,) = await users_of(facilitator)
    async with ws_connect(host_user, room) as host:
        before = await room_state(room)
        reply = await host.request({"type": "member.mute", "membership_id": co_host.pk})
        assert reply["code"] == "forbidden"
        assert await room_state(room) == before


def _co_facilitator(circle, facilitator):
    member = factories.make_member(circle, alias="Co-host")
    return group_services.membership_set_role(
        actor=facilitator, membership=member, role="facilitator"
    )


# message.delete --------------------------------------------------------------------------


async def test_message_delete_erases_the_body(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        target = (await sam.request(chat("something I regret", "c1")))["seq"]
        reply = await host.request({"type": "message.delete", "target_seq": target})
        assert reply["type"] == "ack"
        deleted = await alex.receive_until(of_type("message.deleted"))
        assert deleted["target_seq"] == target
        assert deleted["seq"] == reply["seq"]
        # Deleting again changes nothing.
        before = await room_state(room)
        again = await host.request({"type": "message.delete", "target_seq": target})
        assert again["type"] == "ack"
        assert await room_state(room) == before
        # Reacting to a deleted message: gone.
        reply = await alex.request({"type": "reaction.send", "target_seq": target, "kind": "heard"})
        assert reply["code"] == "not_found"
        # Only chat messages can be deleted.
        reply = await host.request({"type": "message.delete", "target_seq": deleted["seq"]})
        assert reply["code"] == "not_found"
        reply = await host.request({"type": "message.delete", "target_seq": 999})
        assert reply["code"] == "not_found"
        assert await room_state(room) == before
    stored = await database_sync_to_async(MeetingEvent.objects.get)(meeting=room, seq=target)
    assert "something I regret" not in str(stored.payload)
    assert stored.payload["body"] == "" and stored.payload["deleted"] is True
    # Latecomers and resyncing clients never see the body either.
    async with ws_connect(alex_user, room) as late:
        assert "something I regret" not in str(late.snapshot)
        await late.send({"type": "resync", "after": 0})
        events = await late.receive_until(of_type("events"))
        assert "something I regret" not in str(events)


# Reactions -------------------------------------------------------------------------------


async def test_reactions(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        target = (await sam.request(chat("I finally called my brother", "c1")))["seq"]
        for kind in ("heard", "respect", "support"):
            reply = await host.request(
                {"type": "reaction.send", "target_seq": target, "kind": kind}
            )
            assert reply["type"] == "ack", (kind, reply)
            added = await sam.receive_until(of_type("reaction.added"))
            assert added == {
                "type": "reaction.added",
                "seq": reply["seq"],
                "at": added["at"],
                "target_seq": target,
                "kind": kind,
                "membership_id": facilitator.pk,
            }
        before = await room_state(room)
        # The same reaction twice makes one event.
        reply = await host.request({"type": "reaction.send", "target_seq": target, "kind": "heard"})
        assert reply["type"] == "ack"
        cases = [
            ({"target_seq": target, "kind": "love"}, "invalid"),
            ({"target_seq": 999, "kind": "heard"}, "not_found"),
            ({"target_seq": target + 1, "kind": "heard"}, "not_found"),  # a reaction, not chat
        ]
        for fields, code in cases:
            reply = await host.request({"type": "reaction.send", **fields})
            assert reply["code"] == code, (fields, reply)
        assert await room_state(room) == before
        assert await sam.nothing_pending()
        await host.still_works()


# Reports ---------------------------------------------------------------------------------


async def test_report_reaches_facilitators_only(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        target = (await sam.request(chat("something hurtful", "c1")))["seq"]
        for client in (host, sam, alex):
            await client.receive_until(of_type("chat.message"))
        before = await room_state(room)
        reply = await alex.request(
            {"type": "message.report", "target_seq": target, "reason": "That was unkind."}
        )
        assert reply["type"] == "ack" and reply["seq"] is None  # nothing public
        report = await host.receive_until(of_type("report.received"))
        assert report["target_seq"] == target
        assert report["reason"] == "That was unkind."
        assert report["reporter"]["membership_id"] == other_member.pk
        assert "seq" not in report
        assert await sam.nothing_pending()
        assert await alex.nothing_pending()
        after = await room_state(room)
        assert after["events"] == before["events"]  # no event in the shared log
        rows = await database_sync_to_async(list)(
            MessageReport.objects.filter(meeting=room).values("target_seq", "reporter", "reason")
        )
        assert rows == [
            {"target_seq": target, "reporter": other_member.pk, "reason": "That was unkind."}
        ]
        assert report["report_id"] == after["reports"][0]
        # Reporting a message that isn't there.
        reply = await alex.request({"type": "message.report", "target_seq": 999})
        assert reply["code"] == "not_found"
        assert await room_state(room) == after


# Crisis language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "category"),
    [
        ("Honestly I want to kill myself", "suicide"),
        ("I’ve been thinking everyone would be better off without me", "suicide"),
        ("I keep cutting myself again", "self_harm"),
    ],
)
async def test_crisis_language_alerts_facilitators_and_helps_the_author(
    body, category, room, circle, facilitator, member, other_member, ws_connect
):
    await database_sync_to_async(_set_region)(circle, "US")
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        reply = await sam.request(chat(body, "c1"))
        assert reply["type"] == "ack"
        seq = reply["seq"]
        # The message itself is delivered as usual, to everyone.
        for client in (host, sam, alex):
            message = await client.receive_until(of_type("chat.message"))
            assert message["body"] == body and message["seq"] == seq
        alert = await host.receive_until(of_type("alert.crisis"))
        assert {k: alert[k] for k in ("target_seq", "membership_id", "alias", "category")} == {
            "target_seq": seq,
            "membership_id": member.pk,
            "alias": "Sam",
            "category": category,
        }
        support = await sam.receive_until(of_type("support.resources"))
        assert support["resources"] == [
            {"name": line.name, "contact": line.contact, "region": "US"}
            for line in help_lines_for("US")
        ]
        assert support["resources"]
        # Nobody else gets either private frame; no extra event is logged.
        assert await alex.nothing_pending()
        assert await host.nothing_pending()
        assert await sam.nothing_pending()
        assert [e.type for e in await events_of(room)] == ["chat.message"]


async def test_ordinary_message_raises_no_alert(room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        await sam.request(chat("This week was hard but I'm glad to be here", "c1"))
        for client in (host, sam):
            await client.receive_until(of_type("chat.message"))
            assert await client.nothing_pending()


def _set_region(circle, region):
    type(circle).objects.filter(pk=circle.pk).update(region=region)


async def test_a_demoted_facilitator_loses_facilitator_frames_and_notices(
    room, circle, facilitator, member, ws_connect
):
    """His sockets are reseated (4012, reconnect) as a member: the facilitators' notices
    follow the role a socket was seated with, and frames re-check it every time."""
    co_host = await database_sync_to_async(_co_facilitator)(circle, facilitator)
    host_user, co_user, sam_user = await users_of(facilitator, co_host, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        async with ws_connect(co_user, room) as co:
            assert "facilitator" in co.snapshot
            await database_sync_to_async(group_services.membership_set_role)(
                actor=facilitator, membership=co_host, role="member"
            )
            assert await co.receive_close() == 4012
        async with ws_connect(co_user, room) as co:
            assert "facilitator" not in co.snapshot
            before = await room_state(room)
            reply = await co.request({"type": "member.mute", "membership_id": member.pk})
            assert reply["code"] == "forbidden"
            assert await room_state(room) == before
            await sam.request(chat("I want to kill myself", "c1"))
            assert (await host.receive_until(of_type("alert.crisis")))["membership_id"] == member.pk
            await co.receive_until(of_type("chat.message"))  # the message itself, as everyone
            assert await co.nothing_pending()  # but not the facilitators' alert


async def test_alerts_and_reports_wait_for_a_facilitator_who_arrives_later(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with ws_connect(sam_user, room) as sam, ws_connect(alex_user, room) as alex:
        target = (await sam.request(chat("I want to kill myself", "c1")))["seq"]
        reply = await alex.request({"type": "message.report", "target_seq": target})
        assert reply["type"] == "ack"
        async with ws_connect(host_user, room) as host:
            kept = host.snapshot["facilitator"]
            assert [
                (a["target_seq"], a["membership_id"], a["category"]) for a in kept["alerts"]
            ] == [(target, member.pk, "suicide")]
            assert [(r["target_seq"], r["reporter"]["membership_id"]) for r in kept["reports"]] == [
                (target, other_member.pk)
            ]
        async with ws_connect(alex_user, room) as alex_again:
            assert "facilitator" not in alex_again.snapshot
            assert "alert.crisis" not in str(alex_again.snapshot)
            assert "report.received" not in str(alex_again.snapshot)


async def test_a_member_has_a_few_open_reports_at_most(
    room, facilitator, member, other_member, ws_connect
):
    from realtime.services import OPEN_REPORTS_PER_MEMBER

    sam_user, alex_user = await users_of(member, other_member)
    async with ws_connect(sam_user, room) as sam, ws_connect(alex_user, room) as alex:
        target = (await sam.request(chat("a message", "c1")))["seq"]
        for n in range(OPEN_REPORTS_PER_MEMBER):
            reply = await alex.request({"type": "message.report", "target_seq": target})
            assert reply["type"] == "ack", (n, reply)
        before = await room_state(room)
        reply = await alex.request({"type": "message.report", "target_seq": target})
        assert reply["type"] == "error" and reply["code"] == "rate_limited", reply
        assert reply["message"]
        assert await room_state(room) == before
        await alex.still_works()
        # Someone else's flags are his own to make.
        reply = await sam.request({"type": "message.report", "target_seq": target})
        assert reply["type"] == "ack", reply


async def test_the_facilitator_snapshot_stays_small_however_many_flags_are_open(
    room, facilitator, member, ws_connect
):
    """2,000 open reports once made the snapshot 1.39 MB: daphne closes a socket whose
    frame is over 1 MiB, so facilitators could not stay in the room."""
    from realtime.protocol import SNAPSHOT_NOTICES

    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(sam_user, room) as sam:
        target = (await sam.request(chat("I want to kill myself", "c1")))["seq"]

    def flood() -> None:
        from django.utils import timezone

        from realtime.models import CrisisAlert

        now = timezone.now()
        MessageReport.objects.bulk_create(
            MessageReport(
                meeting=room, target_seq=target, reporter=member, reason="r" * 500, created_at=now
            )
            for _ in range(2000)
        )
        CrisisAlert.objects.bulk_create(
            CrisisAlert(
                meeting=room,
                target_seq=target,
                membership=member,
                category="suicide",
                created_at=now,
            )
            for _ in range(2000)
        )

    await database_sync_to_async(flood)()
    async with ws_connect(host_user, room) as host:
        kept = host.snapshot["facilitator"]
        assert len(kept["reports"]) == len(kept["alerts"]) == SNAPSHOT_NOTICES
        assert kept["reports_open"] == 2000
        assert kept["alerts_open"] == 2001
        assert len(json.dumps(host.snapshot)) < 128 * 1024
        # The newest are the ones kept.
        newest = await database_sync_to_async(
            lambda: MessageReport.objects.order_by("-created_at", "-pk").first().pk
        )()
        assert kept["reports"][-1]["report_id"] == newest
