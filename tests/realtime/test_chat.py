"""Chat in the live room, and opening and ending the meeting (PROTOCOL.md, Member
frames and Rules). The hot path, `chat_send`, is also held to its query budget."""

import datetime as dt
import json

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from groups.models import Meeting
from realtime import services
from realtime.models import CrisisAlert
from room import broadcast
from room.context import Seat
from room.errors import RoomError
from room.models import MeetingEvent
from tests import factories
from tests.realtime.conftest import events_of, room_state, users_of

pytestmark = [pytest.mark.django_db(transaction=True)]


def chat(body, client_id=None):
    frame = {"type": "chat.send", "body": body}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


def is_chat(frame):
    return frame["type"] == "chat.message"


# Bodies ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_body_is_trimmed_and_delivered_to_everyone(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        reply = await sam.request(chat("  \n hello circle \t ", "c1"))
        assert reply["type"] == "ack" and reply["seq"] == 1
        for client in (host, sam, alex):
            seen = await client.receive_until(is_chat)
            assert seen["seq"] == 1
            assert seen["body"] == "hello circle"
            assert seen["client_id"] == "c1"
            assert seen["author"] == {"membership_id": member.pk, "alias": "Sam", "role": "member"}
            assert seen["at"]
    (event,) = await events_of(room)
    assert event.payload["body"] == "hello circle"
    assert event.client_id == "c1"


@pytest.mark.asyncio
async def test_body_length_is_counted_in_characters(room, member, ws_connect, monkeypatch):
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 100)
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        for body in ("x", "x" * 2000, "\U0001f525" * 2000, "  " + "y" * 2000 + "  "):
            ref = "r" + str(len(body))
            # Sent as UTF-8, the way a browser's JSON.stringify sends it.
            await sam.send_raw(json.dumps({"id": ref, **chat(body)}, ensure_ascii=False))
            reply = await sam.reply_to(ref)
            assert reply["type"] == "ack", (len(body), reply)
        before = await room_state(room)
        reply = await sam.request(chat("x" * 2001))
        assert reply["code"] == "invalid"
        assert await room_state(room) == before
    bodies = [e.payload["body"] for e in await events_of(room)]
    assert bodies == ["x", "x" * 2000, "\U0001f525" * 2000, "y" * 2000]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "<b>bold</b> &amp; &lt;not an entity&gt; \"quoted\" 'single'",
        "{{ request.user }} {% csrf_token %} ${7*7}",
        "line one\nline two\r\n\ttabbed",
        "\u202eright-to-left override, a \u2028 separator, \u200b zero width",
    ],
)
async def test_markup_is_stored_and_echoed_verbatim(body, room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        reply = await sam.request(chat(body, "c1"))
        assert reply["type"] == "ack", reply
        seen = await host.receive_until(is_chat)
        assert seen["body"] == body.strip()
    (event,) = await events_of(room)
    assert event.payload["body"] == body.strip()


# Idempotency -------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_client_id_makes_chat_idempotent(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(sam_user, room) as sam_tab,
        ws_connect(alex_user, room) as alex,
    ):
        first = await sam.request(chat("hello", "same-id"))
        assert first["seq"] == 1
        await host.receive_until(is_chat)
        # The retry (even with another body, even from another tab) is acked with the
        # first event's seq and makes nothing new.
        again = await sam.request(chat("hello", "same-id"))
        assert again == {"type": "ack", "ref": again["ref"], "seq": 1}
        other_tab = await sam_tab.request(chat("hello again", "same-id"))
        assert other_tab["seq"] == 1
        assert len(await events_of(room)) == 1
        assert await host.nothing_pending()
        # Another author may use the same client_id string.
        alex_reply = await alex.request(chat("me too", "same-id"))
        assert alex_reply["seq"] == 2
        seen = await host.receive_until(is_chat)
        assert (seen["seq"], seen["author"]["membership_id"]) == (2, other_member.pk)
        # Without a client_id every send is new.
        assert (await sam.request(chat("no id")))["seq"] == 3
        assert (await sam.request(chat("no id")))["seq"] == 4
    events = await events_of(room)
    assert [(e.seq, e.actor_id, e.client_id) for e in events] == [
        (1, member.pk, "same-id"),
        (2, other_member.pk, "same-id"),
        (3, member.pk, None),
        (4, member.pk, None),
    ]


# Rate limit --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_sixth_message_in_ten_seconds_is_rate_limited(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        for n in range(1, 6):
            reply = await sam.request(chat(f"message {n}", f"c{n}"))
            assert reply["type"] == "ack" and reply["seq"] == n
        for _ in range(5):
            await host.receive_until(is_chat)
        before = await room_state(room)
        reply = await sam.request(chat("one too many", "c6"))
        assert reply["type"] == "error" and reply["code"] == "rate_limited"
        assert await room_state(room) == before
        assert await host.nothing_pending()
        # A retry of an accepted message is still answered (it makes nothing new).
        assert (await sam.request(chat("message 5", "c5")))["seq"] == 5
        # The limit is per member; and the limited member's socket still works.
        assert (await alex.request(chat("I can still talk", "a1")))["seq"] == 6
        await sam.still_works()


@pytest.mark.asyncio
async def test_rate_window_slides(room, member, ws_connect):
    """Five messages more than ten seconds ago don't count."""
    (sam_user,) = await users_of(member)
    await database_sync_to_async(_backdate_five)(room, member)
    async with ws_connect(sam_user, room) as sam:
        reply = await sam.request(chat("fresh", "f1"))
        assert reply["type"] == "ack" and reply["seq"] == 6


def _backdate_five(meeting, member):
    earlier = timezone.now() - dt.timedelta(seconds=services.CHAT_RATE_SECONDS + 1)
    for n in range(1, 6):
        services.chat_send(
            seat=_seat(meeting, member), body=f"old {n}", client_id=None, now=earlier
        )


# Opening and ending ------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_waits_for_meeting_open(waiting_room, facilitator, member, ws_connect):
    host_user, sam_user = await users_of(facilitator, member)
    async with (
        ws_connect(host_user, waiting_room) as host,
        ws_connect(sam_user, waiting_room) as sam,
    ):
        before = await room_state(waiting_room)
        for client in (sam, host):
            reply = await client.request(chat("too early", "early"))
            assert reply["code"] == "not_live", reply
        reply = await sam.request({"type": "meeting.open"})
        assert reply["code"] == "forbidden"
        assert await room_state(waiting_room) == before

        reply = await host.request({"type": "meeting.open"})
        assert reply["type"] == "ack" and reply["seq"] == 1
        opened = await sam.receive_until(lambda f: f["type"] == "meeting.opened")
        assert opened["seq"] == 1
        assert opened["by"]["membership_id"] == facilitator.pk
        # The refused "early" client_id was never stored, so it is a fresh send now.
        reply = await sam.request(chat("now we're open", "early"))
        assert reply["type"] == "ack" and reply["seq"] == 2
        # Opening twice is a conflict, not a second event.
        reply = await host.request({"type": "meeting.open"})
        assert reply["code"] == "conflict"
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=waiting_room.pk)
    assert meeting.status == "live" and meeting.opened_at is not None
    assert [e.type for e in await events_of(waiting_room)] == ["meeting.opened", "chat.message"]


@pytest.mark.asyncio
async def test_meeting_end_closes_every_socket_with_4410(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(sam_user, room) as sam_tab,
        ws_connect(alex_user, room) as alex,
    ):
        before = await room_state(room)
        reply = await sam.request({"type": "meeting.end"})
        assert reply["code"] == "forbidden"
        assert await room_state(room) == before
        await sam.still_works()

        reply = await host.request({"type": "meeting.end"})
        assert reply["type"] == "ack" and reply["seq"] == 1
        for client in (sam, sam_tab, alex):
            ended = await client.receive_until(lambda f: f["type"] == "meeting.ended")
            assert ended["seq"] == 1
        for client in (host, sam, sam_tab, alex):
            assert await client.receive_close() == 4410
    meeting = await database_sync_to_async(Meeting.objects.get)(pk=room.pk)
    assert meeting.status == "ended" and meeting.ended_at is not None
    async with ws_connect(sam_user, room, expect_snapshot=False) as late:
        assert await late.receive_close() == 4410


# Turn rules --------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_during_a_round_only_the_speaker_chats(
    room, facilitator, member, other_member, ws_connect
):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
        ws_connect(host_user, room) as host,
    ):
        first = await host.request(chat("welcome", "w"))
        reply = await host.request({"type": "round.start", "kind": "check_in", "order": "seating"})
        assert reply["type"] == "ack", reply
        started = await alex.receive_until(lambda f: f["type"] == "turn.started")
        assert started["membership_id"] == member.pk  # Sam joined first
        before = await room_state(room)
        reply = await alex.request(chat("interrupting", "i1"))
        assert reply["code"] == "not_your_turn"
        assert await room_state(room) == before
        # Reactions stay open to all; the speaker and facilitators may chat.
        reaction = {"type": "reaction.send", "target_seq": first["seq"], "kind": "heard"}
        assert (await alex.request(reaction))["type"] == "ack"
        assert (await sam.request(chat("my check-in", "s1")))["type"] == "ack"
        assert (await host.request(chat("thank you", "h1")))["type"] == "ack"


@pytest.mark.asyncio
async def test_talking_piece_outside_rounds(room, facilitator, member, other_member, ws_connect):
    host_user, sam_user, alex_user = await users_of(facilitator, member, other_member)
    async with (
        ws_connect(host_user, room) as host,
        ws_connect(sam_user, room) as sam,
        ws_connect(alex_user, room) as alex,
    ):
        assert (await host.request({"type": "queue.mode", "talking_piece": True}))["type"] == "ack"
        assert (await host.request({"type": "floor.grant", "membership_id": member.pk}))["seq"]
        before = await room_state(room)
        assert (await alex.request(chat("me?", "a1")))["code"] == "not_your_turn"
        assert await room_state(room) == before
        assert (await sam.request(chat("I have the piece", "s1")))["type"] == "ack"
        assert (await host.request(chat("facilitators may", "h1")))["type"] == "ack"


# The hot path's query budget ---------------------------------------------------------------

TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def _seat(meeting, membership) -> Seat:
    return Seat(
        meeting_pk=meeting.pk,
        membership_id=membership.pk,
        user_id=membership.user_id,
        is_facilitator=membership.role == "facilitator",
    )


def _statements(context: CaptureQueriesContext) -> list[str]:
    """What the database was asked, without transaction control (BEGIN, SAVEPOINT …),
    which Django logs as queries too."""
    return [
        q["sql"] for q in context.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)
    ]


def test_chat_send_takes_three_queries(room, member, django_assert_max_num_queries):
    seat = factories.enter_room(member, room)
    # Transactional test: chat_send's atomic block is the outermost, so Django also logs
    # its BEGIN and COMMIT. Three queries plus those two.
    with django_assert_max_num_queries(3 + 2) as context:
        accepted = services.chat_send(seat=seat, body="hello", client_id="c1", now=timezone.now())
    assert accepted.seq == 1
    statements = _statements(context)
    assert len(statements) <= 3, statements
    assert statements[0].startswith("SELECT") and "FOR UPDATE" in statements[0]
    assert statements[-1].startswith("INSERT")
    # A retry is answered from the same reads, without the insert.
    with CaptureQueriesContext(connection) as context:
        again = services.chat_send(seat=seat, body="hello", client_id="c1", now=timezone.now())
    assert again.seq == 1
    assert len(_statements(context)) <= 2, _statements(context)


def test_crisis_message_stays_within_the_budget(room, member, django_assert_max_num_queries):
    """One more: the kept alert (so a facilitator who reconnects still sees it)."""
    seat = _seat(room, member)
    with django_assert_max_num_queries(4 + 2) as context:
        accepted = services.chat_send(
            seat=seat, body="I want to kill myself", client_id="c1", now=timezone.now()
        )
    assert accepted.seq == 1
    assert len(_statements(context)) <= 4, _statements(context)
    assert MeetingEvent.objects.filter(meeting=room).count() == 1
    assert CrisisAlert.objects.filter(meeting=room, target_seq=1, membership=member).exists()


def test_refused_chat_stays_within_the_budget(waiting_room, member):
    """A refused send costs its reads and nothing else."""
    seat = _seat(waiting_room, member)
    with CaptureQueriesContext(connection) as context, pytest.raises(RoomError) as err:
        services.chat_send(seat=seat, body="early", client_id="c1", now=timezone.now())
    assert err.value.code == "not_live"
    assert len(_statements(context)) <= 2, _statements(context)


# Broadcasts leave after commit, once ---------------------------------------------------------


@pytest.fixture
def sent(monkeypatch):
    """What would reach the fan-out or the channel layer, recorded instead of sent:
    (a meeting's pk or a group, the message)."""
    calls: list[tuple[str, dict]] = []
    monkeypatch.setattr(broadcast, "_send", lambda out: calls.append((out.room_key, out.message)))
    return calls


def test_chat_is_broadcast_once_after_commit(room, member, sent):
    with transaction.atomic():
        services.chat_send(seat=_seat(room, member), body="hi", client_id="c1", now=timezone.now())
        assert sent == []  # nothing leaves before the commit
    assert len(sent) == 1
    meeting, message = sent[0]
    assert meeting == str(room.public_id)
    assert [json.loads(text)["seq"] for text in message["frames"]] == [1]
    # The retry is acked but broadcasts nothing.
    services.chat_send(seat=_seat(room, member), body="hi", client_id="c1", now=timezone.now())
    assert len(sent) == 1


def test_crisis_message_sends_each_private_frame_once(room, member, sent):
    services.chat_send(
        seat=_seat(room, member), body="I want to kill myself", client_id=None, now=timezone.now()
    )
    ((target, message),) = sent  # one message for the meeting, in order
    assert target == str(room.public_id)
    assert [json.loads(text)["type"] for text in message["frames"]] == ["chat.message"]
    private = [
        (who, json.loads(text)["type"]) for who, texts in message["private"] for text in texts
    ]
    assert private == [
        (broadcast.FACILITATORS, "alert.crisis"),
        (broadcast.member(member.pk), "support.resources"),
    ]


def test_refused_or_failed_chat_broadcasts_nothing(room, waiting_room, member, sent, monkeypatch):
    with pytest.raises(RoomError):
        services.chat_send(
            seat=_seat(waiting_room, member), body="early", client_id=None, now=timezone.now()
        )

    def explode(text):
        raise RuntimeError("after the insert")

    monkeypatch.setattr(services, "crisis_category", explode)
    with pytest.raises(RuntimeError):
        services.chat_send(seat=_seat(room, member), body="hi", client_id=None, now=timezone.now())
    assert sent == []
    assert MeetingEvent.objects.count() == 0
