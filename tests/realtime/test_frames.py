"""Bad frames and unexpected failures: each gets an `error`, never closes the connection,
and never changes anything (PROTOCOL.md, Frames)."""

import dataclasses
import json
import logging

import pytest

from realtime import protocol
from realtime import services as realtime_services
from realtime.dispatch import ROUTES
from realtime.protocol import author as author_of
from tests.realtime.conftest import events_of, room_state, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def frame(**fields) -> str:
    return json.dumps(fields)


# (label, raw text frame, the `ref` the error must carry)
BAD_TEXT_FRAMES = [
    ("not JSON", "hello there", None),
    ("truncated JSON", '{"id": "j1", "type": "chat.send", "body": "hi"', None),
    ("JSON array", json.dumps([{"id": "a1", "type": "chat.send", "body": "hi"}]), None),
    ("JSON string", json.dumps("chat.send"), None),
    ("JSON number", "42", None),
    ("JSON null", "null", None),
    ("no type", frame(id="n1", body="hi"), "n1"),
    ("type not text", frame(id="n2", type=7), "n2"),
    ("unknown type", frame(id="u1", type="chat.shout", body="hi"), "u1"),
    ("server-only type", frame(id="u2", type="chat.message", body="hi"), "u2"),
    ("missing body", frame(id="m1", type="chat.send", client_id="c1"), "m1"),
    ("missing target_seq", frame(id="m2", type="reaction.send", kind="heard"), "m2"),
    ("missing kind", frame(id="m3", type="reaction.send", target_seq=1), "m3"),
    ("missing after", frame(id="m4", type="resync"), "m4"),
    ("body as number", frame(id="w1", type="chat.send", body=42, client_id="c1"), "w1"),
    ("body as list", frame(id="w2", type="chat.send", body=["hi"]), "w2"),
    ("body only spaces", frame(id="w3", type="chat.send", body="   \n\t "), "w3"),
    ("body empty", frame(id="w4", type="chat.send", body=""), "w4"),
    ("client_id as number", frame(id="w5", type="chat.send", body="hi", client_id=7), "w5"),
    ("client_id 65 chars", frame(id="w6", type="chat.send", body="hi", client_id="c" * 65), "w6"),
    (
        "target_seq as string",
        frame(id="w7", type="reaction.send", target_seq="1", kind="heard"),
        "w7",
    ),
    (
        "target_seq as bool",
        frame(id="w8", type="reaction.send", target_seq=True, kind="heard"),
        "w8",
    ),
    (
        "target_seq as float",
        frame(id="w9", type="reaction.send", target_seq=1.0, kind="heard"),
        "w9",
    ),
    ("target_seq zero", frame(id="w10", type="reaction.send", target_seq=0, kind="heard"), "w10"),
    ("after as string", frame(id="w11", type="resync", after="0"), "w11"),
    ("after negative", frame(id="w12", type="resync", after=-1), "w12"),
    ("after as bool", frame(id="w13", type="resync", after=False), "w13"),
    ("reaction kind", frame(id="w14", type="reaction.send", target_seq=1, kind="love"), "w14"),
    (
        "reason too long",
        frame(id="w15", type="message.report", target_seq=1, reason="r" * 501),
        "w15",
    ),
    ("10,000-char body", frame(id="b1", type="chat.send", body="x" * 10_000, client_id="c1"), "b1"),
    ("2,001-char body", frame(id="b2", type="chat.send", body="x" * 2001), "b2"),
    ("oversize frame", frame(id="big", type="chat.send", body="y" * (16 * 1024 + 1)), "big"),
    ("oversize, no id", frame(type="chat.send", body="y" * 17_000), None),
    ("id of 65 chars", frame(id="i" * 65, type="chat.send", body="hi"), None),
    ("id as number", frame(id=12, type="chat.send", body="hi"), None),
    ("id as object", frame(id={"x": 1}, type="chat.send", body="hi"), None),
    # Text PostgreSQL can't store: refused at the edge, never a server_error.
    ("NUL in body", frame(id="z1", type="chat.send", body="hi\u0000there"), "z1"),
    ("half an emoji in body", frame(id="z2", type="chat.send", body="hi \ud83d"), "z2"),
    ("NUL in client_id", frame(id="z3", type="chat.send", body="hi", client_id="c\u0000"), "z3"),
    ("surrogate client_id", frame(id="z4", type="chat.send", body="hi", client_id="\udfff"), "z4"),
    ("NUL in reason", frame(id="z5", type="message.report", target_seq=1, reason="\u0000"), "z5"),
    ("surrogate feeling", frame(id="z6", type="feelings.share", words=["ok\ud800"]), "z6"),
    ("NUL in a written prompt", frame(id="z7", type="prompt.push", prompt="why\u0000"), "z7"),
    ("surrogate id", frame(id="\ud800", type="chat.send", body="hi"), None),
    # Invisible control characters (tab and line breaks are fine): refused too.
    ("control character in body", frame(id="k1", type="chat.send", body="hi\u0001"), "k1"),
    ("DEL in a reason", frame(id="k2", type="message.report", target_seq=1, reason="\x7f"), "k2"),
    ("escape in a prompt", frame(id="k3", type="prompt.push", prompt="why \u001b[2J"), "k3"),
    # Nesting: refused before the parser can recurse.
    ("10 KB of [", "[" * 10_000, None),
    (
        "deep in an ignored field",
        '{"id": "d1", "type": "chat.send", "body": "hi", "x": ' + "[" * 5000 + "]" * 5000 + "}",
        None,
    ),
    (
        "17 levels",
        '{"id": "d2", "type": "chat.send", "body": "hi", "x": ' + "[" * 16 + "]" * 16 + "}",
        None,
    ),
]


async def test_bad_frames_get_invalid_and_change_nothing(room, member, ws_connect):
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        before = await room_state(room)
        for label, raw, ref in BAD_TEXT_FRAMES:
            await sam.send_raw(raw)
            reply = await sam.receive()
            assert reply["type"] == "error", (label, reply)
            assert reply["code"] == "invalid", (label, reply)
            assert reply["ref"] == ref, (label, reply)
            assert reply["message"], label
            await sam.still_works()
        assert await room_state(room) == before
        # The log is untouched: the first real message is still seq 1.
        reply = await sam.request(
            {"type": "chat.send", "body": "after all that", "client_id": "c1"}
        )
        assert reply == {"type": "ack", "ref": reply["ref"], "seq": 1}


async def test_brackets_inside_text_and_shallow_nesting_are_fine(room, member, ws_connect):
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        body = "[[[[ {{{{ " * 10 + "]]]]"
        reply = await sam.request(
            {"type": "chat.send", "body": body, "client_id": "b1", "x": [[[[{"y": [1]}]]]]}
        )
        assert reply["type"] == "ack", reply
        message = await sam.receive()
        assert message["type"] == "chat.message" and message["body"] == body.strip()


async def test_binary_frames_are_refused(room, member, ws_connect):
    """Frames are JSON text; a binary frame is refused even if its bytes are JSON."""
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        before = await room_state(room)
        valid = {"id": "bin1", "type": "chat.send", "body": "hi", "client_id": "c1"}
        cases = [(json.dumps(valid).encode(), "bin1"), (b"\x00\xff\xfe", None), (b"[]", None)]
        for data, ref in cases:
            await sam.send_bytes(data)
            reply = await sam.receive()
            assert reply["type"] == "error", reply
            assert reply["code"] == "invalid", reply
            assert reply["ref"] == ref, reply
            await sam.still_works()
        assert await room_state(room) == before


async def test_facilitator_frames_are_validated_before_permissions(
    room, facilitator, member, ws_connect
):
    host_user, sam_user = await users_of(facilitator, member)
    bad = [
        {"type": "member.mute", "membership_id": str(member.pk)},
        {"type": "member.mute", "membership_id": member.pk, "minutes": 0},
        {"type": "member.mute", "membership_id": member.pk, "minutes": 1.5},
        {"type": "member.remove", "membership_id": True},
        {"type": "member.remove"},
        {"type": "round.start", "kind": "gossip"},
        {"type": "round.start", "kind": "check_in", "order": "alphabetical"},
        {"type": "round.start", "kind": "check_in", "seconds_per_turn": 5},
        {"type": "round.next"},
        {"type": "round.skip", "turn_id": "1"},
        {"type": "queue.move", "membership_id": member.pk, "position": -1},
        {"type": "queue.mode", "talking_piece": "yes"},
        {"type": "queue.mode", "progressive": 1},
        {"type": "phase.set"},
        {"type": "prompt.push", "prompt": "p" * 501},
        {"type": "message.delete", "target_seq": None},
    ]
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        before = await room_state(room)
        for client in (host, sam):
            for data in bad:
                reply = await client.request(data)
                assert reply["type"] == "error", (data, reply)
                assert reply["code"] == "invalid", (data, reply)
            await client.still_works()
        assert await room_state(room) == before


async def test_unexpected_error_rolls_back_and_is_logged(
    room, facilitator, member, ws_connect, monkeypatch, caplog
):
    def explode(room_):
        room_.log.append("chat.message", {"author": author_of(room_.actor), "body": "half"})
        raise RuntimeError("boom")

    route = ROUTES[protocol.HandRaise]
    monkeypatch.setitem(ROUTES, protocol.HandRaise, dataclasses.replace(route, action=explode))
    host_user, sam_user = await users_of(facilitator, member)
    async with ws_connect(host_user, room) as host, ws_connect(sam_user, room) as sam:
        await host.receive_until(lambda f: f["type"] == "presence.joined")
        before = await room_state(room)
        with caplog.at_level(logging.ERROR, logger="realtime"):
            reply = await sam.request({"type": "hand.raise"})
        assert reply["type"] == "error", reply
        assert reply["code"] == "server_error"
        assert reply["message"]
        assert "boom" not in reply["message"]  # no internals leak to the person
        assert await room_state(room) == before
        assert await events_of(room) == []
        assert await host.nothing_pending()  # nothing was broadcast
        records = [r for r in caplog.records if r.exc_info and r.name.startswith("realtime")]
        assert len(records) == 1
        logged = records[0].getMessage()
        assert "hand.raise" in logged
        assert f"meeting={room.pk}" in logged
        assert records[0].exc_info[0] is RuntimeError
        # The connection keeps working, for this frame type's neighbours and for chat.
        await sam.still_works()
        reply = await sam.request({"type": "chat.send", "body": "still here", "client_id": "c1"})
        assert reply["type"] == "ack" and reply["seq"] == 1


async def test_unexpected_error_in_chat_rolls_back(room, member, ws_connect, monkeypatch, caplog):
    """The chat hot path fails after its insert: the message is not kept."""

    def explode(text):
        raise RuntimeError("crisis check failed")

    monkeypatch.setattr(realtime_services, "crisis_category", explode)
    (sam_user,) = await users_of(member)
    async with ws_connect(sam_user, room) as sam:
        with caplog.at_level(logging.ERROR, logger="realtime"):
            reply = await sam.request({"type": "chat.send", "body": "hello", "client_id": "c1"})
        assert reply["code"] == "server_error"
        assert await events_of(room) == []
        assert any("chat.send" in r.getMessage() for r in caplog.records if r.exc_info)
        monkeypatch.undo()
        # The retry with the same client_id is a fresh send, not a duplicate of a ghost.
        reply = await sam.request({"type": "chat.send", "body": "hello", "client_id": "c1"})
        assert reply["type"] == "ack" and reply["seq"] == 1
