"""Property-based fuzzing of the live protocol through the real ASGI stack
(config.asgi: origin check, session auth, routing, the consumer, PostgreSQL, Redis).

Hypothesis drives random and mutated frames from a member's socket and a facilitator's
socket in a fresh meeting per example (mostly live, sometimes still scheduled), with
field values drawn from realistic ranges (the ids, turns, seqs, prompts and agenda
steps of that very room, read from its snapshot and broadcasts) and hostile ones (huge,
negative, float, bool, null, U+0000, lone surrogates, long text, nesting, unknown
fields), and frames mutated on the wire (fields dropped, duplicated or retyped, text
truncated, 10,000 '[', non-JSON text and bytes, binary frames, empty text, an array
instead of an object, frames over and exactly at the 16 KiB limit).

Properties (docs/protocol.md, Frames and replies, Limits, The event log):

1. Every frame gets exactly one answer, `ack` or `error` (a valid `resync`: `events`
   frames instead), carrying the frame's `id` as `ref` when it had a usable one and
   `null` otherwise. Broadcast events and private notices that arrive in between are
   skipped, and never include an answer on the other socket.
2. No `error` is ever `server_error`; a frame that is certainly malformed (binary, over
   16 KiB, not a JSON object, nested deeper than 16, unknown type, unusable id) is
   `invalid`; no answer takes longer than ANSWER_TIMEOUT seconds.
3. No socket closes: none of the fuzzed frame types may end the session.
4. A refused frame changes nothing: room_state() (the event log, reports, crisis
   alerts, rounds, turns, feeling shares, floor holds, prompt uses, the meeting row's
   status/queue/floor/mode/step, the circle's memberships and their muted_until) is
   equal before and after every `error`. An `ack` with a seq names an event that is
   in the log; the log stays 1..N without gaps.
5. After the run, a fresh facilitator's snapshot is at most
   FACILITATOR_SNAPSHOT_MAX_BYTES of UTF-8 (realtime.protocol; a member's bound,
   SNAPSHOT_MAX_BYTES, is smaller), and its `seq` is the log's newest.

A second, smaller property ends the session on purpose (member.remove, meeting.end)
after some fuzzing, and checks the documented closes (4403 for the removed member's
sockets only, 4410 for everyone) and that refused attempts close nothing.

The fuzzing can't fill a room, so a last test builds the fullest room the limits allow,
at four bytes a character, and measures a member's and a facilitator's snapshot against
their bounds.

What hypothesis draws never depends on what the server answered (a random round order
or a rate limit would make it draw differently on replay): ids are drawn as Refs ("the
current turn", "the newest chat message") and looked up when the frame is sent.

room_state() reads the tables with SQL by name, not through the models, so it keeps
working while models move between apps (MeetingEvent keeps `realtime_meetingevent`).
"""

import asyncio
import contextlib
import copy
import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import pytest_asyncio
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from groups.models import MeetingStatus, Membership
from realtime.protocol import (
    FACILITATOR_SNAPSHOT_MAX_BYTES,
    SNAPSHOT_EVENTS_MAX_BYTES,
    SNAPSHOT_MAX_BYTES,
)
from tests import factories
from tests.realtime.conftest import connect, session_cookie_for, settle_departures, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

MAX_FRAME_BYTES = 16 * 1024  # docs/protocol.md, Limits
MAX_DEPTH = 16
MAX_ID_CHARS = 64
RESYNC_BATCH = 500
ANSWER_TIMEOUT = 10  # seconds: far above any real answer here; beyond it, a hang

ERROR_CODES = {
    "invalid",
    "forbidden",
    "not_your_turn",
    "muted",
    "rate_limited",
    "not_live",
    "not_found",
    "conflict",
    "server_error",
}
MEMBER_TYPES = [
    "chat.send",
    "hand.raise",
    "hand.lower",
    "turn.done",
    "turn.pass",
    "reaction.send",
    "message.report",
    "feelings.share",
    "resync",
]
FACILITATOR_TYPES = [
    "meeting.open",
    "phase.set",
    "round.start",
    "round.next",
    "round.skip",
    "round.end",
    "floor.grant",
    "floor.release",
    "queue.move",
    "queue.remove",
    "queue.mode",
    "prompt.push",
    "member.mute",
    "member.unmute",
    "message.delete",
]
ENDING_TYPES = ["meeting.end", "member.remove"]
FUZZ_TYPES = MEMBER_TYPES + FACILITATOR_TYPES
KNOWN_TYPES = set(FUZZ_TYPES + ENDING_TYPES)

FEELING_WORDS = [
    "mad",
    "sad",
    "glad",
    "afraid",
    "ashamed",
    "calm",
    "tired",
    "anxious",
    "not enough",
    " Grateful ",
    "HURT",
]


# The room as the test knows it ---------------------------------------------------------


@dataclass
class Ctx:
    """What the room has shown so far, to draw realistic ids from."""

    people: dict[str, int]  # socket name -> membership id
    member_ids: list[int]
    foreign_ids: list[int]
    step_ids: list[int] = field(default_factory=list)
    prompt_ids: list[int] = field(default_factory=list)
    turn_ids: list[int] = field(default_factory=list)
    chat_seqs: list[int] = field(default_factory=list)
    newest_seq: int = 0
    current_turn: int | None = None
    speaker: int | None = None

    def observe(self, frame: dict) -> None:
        kind = frame.get("type")
        if kind == "snapshot":
            self.newest_seq = max(self.newest_seq, frame.get("seq") or 0)
            agenda = (frame.get("meeting") or {}).get("agenda") or {}
            self.step_ids += [
                s["id"] for s in agenda.get("steps", []) if s["id"] not in self.step_ids
            ]
            prompts = (frame.get("facilitator") or {}).get("prompts", [])
            self.prompt_ids += [p["id"] for p in prompts if p["id"] not in self.prompt_ids]
            for event in frame.get("events", []):
                self.observe(event)
            self._round(frame.get("round") or {"ended": True})
            return
        if kind == "events":
            for event in frame.get("events", []):
                self.observe(event)
            return
        seq = frame.get("seq")
        if isinstance(seq, int):
            self.newest_seq = max(self.newest_seq, seq)
        if kind == "chat.message" and isinstance(seq, int) and seq not in self.chat_seqs:
            self.chat_seqs.append(seq)
        if isinstance(frame.get("turn_id"), int) and frame["turn_id"] not in self.turn_ids:
            self.turn_ids.append(frame["turn_id"])
        if isinstance(frame.get("round"), dict):
            self._round(frame["round"])

    def _round(self, round_: dict) -> None:
        current = round_.get("current")
        if current:
            self.current_turn, self.speaker = current["turn_id"], current["membership_id"]
            if current["turn_id"] not in self.turn_ids:
                self.turn_ids.append(current["turn_id"])
        elif round_.get("ended"):
            self.current_turn = self.speaker = None


# Values --------------------------------------------------------------------------------

MISSING = object()  # a field left out of the frame

HUGE_INTS = [
    0,
    -1,
    1,
    2**31 - 1,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64,
    10**30,
    -(2**63),
    -(2**63) - 1,
]
HOSTILE_TEXTS = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\udfff",
    "ok \ud83d",
    "\ud83d\ude00",
    "\u202e\ufeff",
    "x" * 65,
    "r" * 501,
    "b" * 2001,
    "é" * 2001,
    "<script>alert(1)</script>",
    "'; drop table groups_meeting; --",
    "[[[[{{{{",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(HUGE_INTS),
    st.floats(),
    st.sampled_from(HOSTILE_TEXTS),
    st.text(st.characters(exclude_categories=()), max_size=30),
)


def nested(depth: int) -> Any:
    value: Any = 1
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


hostile = st.one_of(
    scalars,
    st.lists(scalars, max_size=4),
    st.dictionaries(st.text(max_size=8), scalars, max_size=3),
    st.integers(1, 24).map(nested),
)
HOSTILE_IDS = [None, "", "i" * 64, "i" * 65, 7, True, "\x00", "\ud800", ["x"], {"id": "x"}]


def mostly(usual: st.SearchStrategy, rare: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(usual, usual, usual, rare)


@dataclass(frozen=True)
class Ref:
    """Something in the room, named when the frame is drawn and looked up in ctx when it
    is sent. Hypothesis must draw the same way whatever the server did (a random round
    order, a rate limit), so no strategy depends on the room's state: only these do."""

    what: str  # turn, seq, member, prompt, step, after
    n: int  # 0..7: which one; the low numbers are the likely ones

    def resolve(self, ctx: "Ctx") -> int:
        n = self.n
        if self.what == "turn":
            seen = ctx.turn_ids
            if n <= 3:
                return ctx.current_turn or (seen[-1] if seen else 1)
            if n <= 5:
                return seen[-(n - 2)] if len(seen) >= n - 2 else (seen[0] if seen else 2)
            return max(seen, default=0) + 1 if n == 6 else 10**6
        if self.what == "seq":
            chats, newest = ctx.chat_seqs, max(1, ctx.newest_seq)
            if n <= 3:
                return chats[-(n + 1)] if len(chats) > n else (chats[0] if chats else newest)
            return {4: newest, 5: ctx.newest_seq + 1, 6: 1}.get(n, 10**6)
        if self.what == "member":
            if n <= 5:
                return ctx.member_ids[n % len(ctx.member_ids)]
            return ctx.foreign_ids[(n - 6) % len(ctx.foreign_ids)]
        if self.what in ("prompt", "step"):
            known = ctx.prompt_ids if self.what == "prompt" else ctx.step_ids
            if n <= 5 and known:
                return known[(n * 7) % len(known)]
            return 10**6 if n >= 6 else 1
        if self.what == "after":
            newest = ctx.newest_seq
            return [0, max(0, newest - 1), newest, newest + 1][n] if n <= 3 else n - 4
        raise AssertionError(self.what)


def refs(what: str) -> st.SearchStrategy:
    return st.integers(0, 7).map(lambda n: Ref(what, n))


def resolved(value: Any, ctx: "Ctx") -> Any:
    if isinstance(value, Ref):
        return value.resolve(ctx)
    if isinstance(value, dict):
        return {k: resolved(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [resolved(v, ctx) for v in value]
    return value


# Fields a frame must carry (docs/protocol.md); the others may be left out.
REQUIRED = {
    "chat.send": {"body"},
    "reaction.send": {"target_seq", "kind"},
    "message.report": {"target_seq"},
    "resync": {"after"},
    "phase.set": {"step_id"},
    "round.start": {"kind"},
    "round.next": {"turn_id"},
    "round.skip": {"turn_id"},
    "floor.grant": {"membership_id"},
    "queue.move": {"membership_id", "position"},
    "queue.remove": {"membership_id"},
    "member.mute": {"membership_id"},
    "member.unmute": {"membership_id"},
    "member.remove": {"membership_id"},
    "message.delete": {"target_seq"},
}


def realistic_fields(kind: str) -> dict[str, st.SearchStrategy]:
    """Values a real client would send: this room's people, turns, messages, prompts and
    steps (as Refs), mostly the current ones."""
    seqs = refs("seq")
    members = refs("member")
    turns = refs("turn")
    written = st.one_of(
        st.sampled_from(["How are you arriving tonight?", "  padded  ", "é" * 500, "😀" * 500]),
        st.text(min_size=1, max_size=40),
    )
    bodies = st.one_of(
        st.sampled_from(
            [
                "Hello all",
                "I want to kill myself",
                "  trimmed  ",
                "<b>markup</b> stays text",
                "x" * 2000,
                "😀" * 2000,
                "é" * 2000,
            ]
        ),
        st.text(min_size=1, max_size=60),
    )
    client_ids = st.one_of(st.none(), st.sampled_from(["c1", "c2", "c3"]), st.uuids().map(str))
    prompts = mostly(refs("prompt"), st.none())
    steps = mostly(refs("step"), st.none())
    words = mostly(
        st.lists(st.sampled_from(FEELING_WORDS), min_size=1, max_size=6),
        st.lists(st.text(max_size=12), max_size=7),
    )
    return {
        "chat.send": {"body": bodies, "client_id": client_ids},
        "hand.raise": {},
        "hand.lower": {},
        "turn.done": {"turn_id": mostly(turns, st.none())},
        "turn.pass": {"turn_id": mostly(turns, st.none())},
        "reaction.send": {
            "target_seq": seqs,
            "kind": st.sampled_from(["heard", "respect", "support"]),
        },
        "message.report": {"target_seq": seqs, "reason": written},
        "feelings.share": {
            "words": words,
            "weather": mostly(st.integers(1, 10), st.none()),
        },
        "resync": {"after": refs("after")},
        "meeting.open": {},
        "phase.set": {"step_id": steps},
        "round.start": {
            "kind": st.sampled_from(["check_in", "check_out", "topic"]),
            "prompt_id": prompts,
            "prompt": written,
            "order": st.sampled_from(["seating", "random", "facilitator_first"]),
            "seconds_per_turn": st.one_of(st.none(), st.integers(10, 1800)),
            "quiet_seconds": st.one_of(st.none(), st.integers(0, 300)),
        },
        "round.next": {"turn_id": turns},
        "round.skip": {"turn_id": turns},
        "round.end": {},
        "floor.grant": {"membership_id": members},
        "floor.release": {},
        "queue.move": {"membership_id": members, "position": st.integers(0, 4)},
        "queue.remove": {"membership_id": members},
        "queue.mode": {
            "talking_piece": st.one_of(st.none(), st.booleans()),
            "progressive": st.one_of(st.none(), st.booleans()),
        },
        "prompt.push": {"prompt_id": prompts, "prompt": written},
        "member.mute": {"membership_id": members, "minutes": st.integers(1, 240)},
        "member.unmute": {"membership_id": members},
        "member.remove": {"membership_id": members},
        "meeting.end": {},
        "message.delete": {"target_seq": seqs},
    }[kind]


@st.composite
def frame_objects(draw, frame_id: str, kind: str) -> dict:
    """A well-formed frame of this type as a dict: the required fields, some optional
    ones, realistic values."""
    frame: dict[str, Any] = {"id": frame_id, "type": kind}
    for name, strategy in realistic_fields(kind).items():
        if name in REQUIRED.get(kind, ()) or draw(st.integers(0, 2)):
            frame[name] = draw(strategy)
    return frame


# The wire ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Wire:
    """One websocket frame as sent: text or bytes, and how it was made."""

    how: str
    text: str | None = None
    data: bytes | None = None
    mutation: str = ""  # which of MUTATIONS made it, if any

    def __repr__(self) -> str:
        payload = self.text if self.text is not None else self.data
        shown = repr(payload)
        if len(shown) > 300:
            shown = f"{shown[:200]}…{shown[-60:]} ({len(shown)} chars)"
        return f"Wire({self.how}, {'text' if self.text is not None else 'bytes'}={shown})"


def dumps(obj: Any, *, raw_utf8: bool = False) -> str:
    """JSON as a client would send it. Raw UTF-8 only when the text can be UTF-8 (a lone
    surrogate can only travel as a \\ud800 escape: websocket text is UTF-8)."""
    if raw_utf8:
        text = json.dumps(obj, ensure_ascii=False)
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError:
            pass
    return json.dumps(obj)


def add_raw_field(text: str, raw_pair: str) -> str:
    """Put `"k": v` (given as raw JSON) into an object's text, keeping any duplicate."""
    body = text.rstrip()
    assert body.endswith("}")
    return body[:-1] + (", " if body[:-1].strip() != "{" else "") + raw_pair + "}"


def padded_to(text: str, size: int) -> str:
    """The frame with an ignored `pad` field making it exactly `size` bytes of UTF-8."""
    stub = add_raw_field(text, '"pad": ""')
    missing = size - len(stub.encode())
    return add_raw_field(text, '"pad": "' + "p" * max(0, missing) + '"')


MUTATIONS = [
    "drop",
    "unknown",
    "duplicate",
    "retype",
    "truncate",
    "deep",
    "brackets",
    "garbage_text",
    "garbage_bytes",
    "binary",
    "empty_text",
    "empty_bytes",
    "array",
    "oversize",
    "exact_limit",
    "scalar",
    "type",
    "bom",
    "non_finite",
    "long_number",
    "whitespace",
]


@dataclass(frozen=True)
class Plan:
    """A frame as drawn: its fields (with Refs), and what to do to it on the wire."""

    frame: dict
    raw_utf8: bool
    edit: tuple  # ("clean",) | ("hostile", key, value) | (mutation, *arguments)


@st.composite
def plans(draw, frame_id: str, kind: str) -> Plan:
    """A frame of this type: well-formed, or with one hostile field or id, or mutated
    on the wire."""
    frame = draw(frame_objects(frame_id, kind))
    raw_utf8 = draw(st.booleans())
    mode = draw(st.sampled_from(["clean"] * 5 + ["hostile"] * 2 + ["mutated"] * 3))
    if mode == "clean":
        return Plan(frame, raw_utf8, ("clean",))
    keys = list(frame)
    if mode == "hostile":
        key = draw(st.sampled_from([*keys, "id", "x", "__proto__", "ref", "seq"]))
        if key == "id":
            value = draw(st.one_of(st.sampled_from(HOSTILE_IDS), st.just(MISSING)))
        else:
            value = draw(hostile)
        return Plan(frame, raw_utf8, ("hostile", key, value))
    how = draw(st.sampled_from(MUTATIONS))
    some_key = st.sampled_from(keys)
    any_key = st.sampled_from([*keys, "x"])
    arguments: tuple = {
        "drop": lambda: (draw(some_key),),
        "unknown": lambda: (
            draw(st.dictionaries(st.text(max_size=10), hostile, min_size=1, max_size=4)),
        ),
        "duplicate": lambda: (draw(some_key), draw(st.one_of(st.just(MISSING), hostile))),
        "retype": lambda: (draw(some_key), draw(hostile)),
        "truncate": lambda: (draw(st.integers(0, 10**6)),),
        "deep": lambda: (draw(any_key), draw(st.sampled_from([15, 16, 17, 100, 10_000]))),
        "garbage_text": lambda: (draw(st.text(st.characters(codec="utf-8"), min_size=1)),),
        "garbage_bytes": lambda: (draw(st.binary(min_size=1, max_size=64)),),
        "oversize": lambda: (draw(st.sampled_from([1, 2, 100, 4096])),),
        "exact_limit": lambda: (draw(st.sampled_from([0, 1])),),
        "scalar": lambda: (draw(st.sampled_from(["42", "null", "true", '"hi"', "1e999"])),),
        "type": lambda: (
            draw(
                st.one_of(
                    st.sampled_from(
                        ["chat.message", "snapshot", "ack", "Chat.Send", " hand.raise", ""]
                    ),
                    hostile,
                )
            ),
        ),
        "non_finite": lambda: (
            draw(any_key),
            draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0"])),
        ),
        "long_number": lambda: (draw(any_key), draw(st.sampled_from([19, 20, 400, 4301, 5000]))),
    }.get(how, lambda: ())()
    return Plan(frame, raw_utf8, (how, *arguments))


def build(plan: Plan, ctx: "Ctx") -> Wire:
    """The frame as sent now, with this room's ids."""
    frame = resolved(plan.frame, ctx)
    raw_utf8 = plan.raw_utf8
    how, *arguments = plan.edit
    if how == "clean":
        return Wire("frame", text=dumps(frame, raw_utf8=raw_utf8))
    if how == "hostile":
        key, value = arguments
        if value is MISSING:
            return Wire("no id", text=dumps({k: v for k, v in frame.items() if k != "id"}))
        return Wire(f"hostile {key}", text=dumps({**frame, key: value}, raw_utf8=raw_utf8))
    return replace(_mutated(how, arguments, frame, raw_utf8), mutation=how)


def _mutated(how: str, arguments: list, frame: dict, raw_utf8: bool) -> Wire:
    text = dumps(frame, raw_utf8=raw_utf8)
    if how == "drop":
        (key,) = arguments
        return Wire(f"drop {key}", text=dumps({k: v for k, v in frame.items() if k != key}))
    if how == "unknown":
        (extra,) = arguments
        return Wire("unknown fields", text=dumps({**extra, **frame}, raw_utf8=raw_utf8))
    if how == "duplicate":
        key, value = arguments
        value = frame[key] if value is MISSING else value
        return Wire(
            f"duplicate {key}", text=add_raw_field(text, f"{json.dumps(key)}: {dumps(value)}")
        )
    if how == "retype":
        key, value = arguments
        return Wire(f"retype {key}", text=dumps({**frame, key: value}))
    if how == "truncate":
        cut = 1 + arguments[0] % max(1, len(text) - 1)
        return Wire(f"truncate at {cut}", text=text[:cut])
    if how == "deep":
        key, depth = arguments
        deep = "[" * depth + "]" * depth
        return Wire(f"{key} nested {depth} deep", text=add_raw_field(text, f'"{key}": {deep}'))
    if how == "brackets":
        return Wire("10,000 [", text="[" * 10_000)
    if how == "garbage_text":
        return Wire("garbage text", text=arguments[0])
    if how == "garbage_bytes":
        return Wire("garbage bytes", data=arguments[0])
    if how == "binary":
        return Wire("frame as binary", data=text.encode("utf-8"))
    if how == "empty_text":
        return Wire("empty text", text="")
    if how == "empty_bytes":
        return Wire("empty bytes", data=b"")
    if how == "array":
        return Wire("in an array", text=f"[{text}]")
    if how == "oversize":
        size = MAX_FRAME_BYTES + arguments[0]
        return Wire(f"padded to {size} bytes", text=padded_to(text, size))
    if how == "exact_limit":
        size = MAX_FRAME_BYTES - arguments[0]
        return Wire(f"padded to {size} bytes", text=padded_to(text, size))
    if how == "scalar":
        return Wire("not an object", text=arguments[0])
    if how == "type":
        (kind,) = arguments
        return Wire(f"type {kind!r}", text=dumps({**frame, "type": kind}))
    if how == "bom":
        return Wire("byte order mark", text="\ufeff" + text)
    if how == "non_finite":
        key, literal = arguments
        return Wire(f"{key} = {literal}", text=add_raw_field(text, f'"{key}": {literal}'))
    if how == "long_number":
        key, digits = arguments
        return Wire(
            f"{key} = {digits} digits", text=add_raw_field(text, f'"{key}": {"9" * digits}')
        )
    if how == "whitespace":
        return Wire("whitespace around", text=f" \n\t{text}\r\n ")
    raise AssertionError(how)


# What the protocol promises about a frame, worked out independently of the server ------


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _parsed(wire: Wire) -> Any:
    """The JSON object the frame carries (bytes read as UTF-8), or MISSING when it is
    not JSON or nests deeper than the limit."""
    raw = wire.text if wire.text is not None else (wire.data or b"").decode("utf-8", "replace")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return MISSING
    return value if _depth(value) <= MAX_DEPTH else MISSING


def _usable(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > MAX_ID_CHARS or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def expected_ref(wire: Wire) -> str | None:
    data = _parsed(wire)
    if isinstance(data, dict) and _usable(data.get("id")):
        return data["id"]
    return None


def certainly_invalid(wire: Wire) -> bool:
    """Refused whatever the room's state: `invalid`."""
    if wire.text is None or len(wire.text.encode("utf-8")) > MAX_FRAME_BYTES:
        return True
    data = _parsed(wire)
    if not isinstance(data, dict):
        return True
    if "id" in data and data["id"] is not None and not _usable(data["id"]):
        return True
    kind = data.get("type")
    return not isinstance(kind, str) or kind not in KNOWN_TYPES


def valid_resync(wire: Wire) -> bool:
    if certainly_invalid(wire):
        return False
    data = _parsed(wire)
    after = data.get("after")
    return (
        data.get("type") == "resync"
        and isinstance(after, int)
        and not isinstance(after, bool)
        and after >= 0
    )


# State ---------------------------------------------------------------------------------

STATE_QUERIES = {
    "events": """
        select count(*), coalesce(max(seq), 0), md5(coalesce(string_agg(
            seq::text || type || payload::text || coalesce(client_id, ''), '|' order by seq
        ), ''))
        from realtime_meetingevent where meeting_id = %(m)s""",
    "reports": """
        select id, target_seq, reporter_id, reason, resolved_at
        from realtime_messagereport where meeting_id = %(m)s order by id""",
    "alerts": """
        select id, target_seq, membership_id, resolved_at
        from realtime_crisisalert where meeting_id = %(m)s order by id""",
    "rounds": """
        select id, kind, "order"::text, outcomes::text, current, turn_number, quiet_until,
               ended_at
        from facilitation_round where meeting_id = %(m)s order by id""",
    "turns": """
        select t.id, t.membership_id, t.ended_at, t.outcome
        from facilitation_turn t join facilitation_round r on r.id = t.round_id
        where r.meeting_id = %(m)s order by t.id""",
    "feeling_shares": """
        select count(*) from facilitation_feelingshare f
        join facilitation_turn t on t.id = f.turn_id
        join facilitation_round r on r.id = t.round_id where r.meeting_id = %(m)s""",
    "floor_holds": """
        select id, membership_id, ended_at
        from facilitation_floorhold where meeting_id = %(m)s order by id""",
    "prompt_uses": "select count(*) from facilitation_promptuse where meeting_id = %(m)s",
    "meeting": """
        select status, opened_at, ended_at, queue::text, floor_holder_id, talking_piece,
               progressive, script_id, current_step_id, step_started_at
        from groups_meeting where id = %(m)s""",
    "memberships": """
        select id, status, role, muted_until, agreements_accepted_at from groups_membership
        where circle_id = (select circle_id from groups_meeting where id = %(m)s)
        order by id""",
}


def _room_state(meeting_pk: int) -> dict:
    state = {}
    with connection.cursor() as cursor:
        for name, sql in STATE_QUERIES.items():
            cursor.execute(sql, {"m": meeting_pk})
            state[name] = cursor.fetchall()
    return state


room_state = database_sync_to_async(_room_state)


@database_sync_to_async
def log_bounds(meeting_pk: int) -> tuple[int, int]:
    """(events in the log, newest seq)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "select count(*), coalesce(max(seq), 0) from realtime_meetingevent"
            " where meeting_id = %s",
            [meeting_pk],
        )
        return cursor.fetchone()


# Driving a socket ----------------------------------------------------------------------


class Closed(AssertionError):
    pass


async def send_wire(client, wire: Wire) -> None:
    message: dict[str, Any] = {"type": "websocket.receive"}
    if wire.text is not None:
        message["text"] = wire.text
    else:
        message["bytes"] = wire.data
    await client.communicator.send_input(message)


async def next_frame(client, timeout: float) -> dict:
    message = await client.communicator.receive_output(timeout)
    if message["type"] == "websocket.close":
        raise Closed(f"socket closed with {message.get('code')}")
    assert message["type"] == "websocket.send", message
    assert message.get("text") is not None, f"server sent a binary frame: {message}"
    return json.loads(message["text"])


def note(client, ctx: Ctx, frame: dict, what: Any) -> None:
    """A broadcast event or a private notice. Events reach each socket once, in seq
    order, without gaps (client.last_seq starts at its snapshot's seq)."""
    kind = frame.get("type")
    assert isinstance(kind, str) and kind not in ("ack", "error", "events", "snapshot"), (
        f"unexpected on a socket after {what}",
        frame,
    )
    if "seq" in frame:
        assert "at" in frame, (what, frame)
        assert frame["seq"] == client.last_seq + 1, (
            f"event out of order after {what}",
            client.last_seq,
            frame,
        )
        client.last_seq = frame["seq"]
    ctx.observe(frame)


async def answer_to(client, ctx: Ctx, what: Any) -> dict:
    """The frame's answer: the first ack or error, or the `events` frames of a resync
    (returned as one {"type": "events", "frames": [...]}). Events and notices on the way
    are noted."""
    frames: list[dict] = []
    while True:
        try:
            frame = await next_frame(client, ANSWER_TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no answer within {ANSWER_TIMEOUT} s to {what}") from None
        kind = frame.get("type")
        if kind in ("ack", "error"):
            assert not frames, (what, "an ack/error came in the middle of a resync", frame)
            return frame
        if kind == "events":  # replayed events: their ids are old news for ctx
            frames.append(frame)
            if len(frame["events"]) < RESYNC_BATCH:
                return {"type": "events", "frames": frames}
            continue
        note(client, ctx, frame, what)


async def catch_up(client, ctx: Ctx, seq: int, what: Any) -> None:
    """Wait until the socket has received the event with this seq (every socket in the
    room gets every event)."""
    while client.last_seq < seq:
        try:
            frame = await next_frame(client, ANSWER_TIMEOUT)
        except TimeoutError:
            raise AssertionError(
                f"event {seq} never reached a socket (it has {client.last_seq}) after {what}"
            ) from None
        note(client, ctx, frame, what)


def drain(client, ctx: Ctx, what: Any) -> None:
    """Take what has already arrived on a socket that sent nothing: only events and
    notices may be there."""
    queue = client.communicator.output_queue
    while not queue.empty():
        message = queue.get_nowait()
        if message["type"] == "websocket.close":
            raise Closed(f"a socket closed with {message.get('code')} after {what}")
        note(client, ctx, json.loads(message["text"]), what)


async def fresh_snapshot(user_cookie: str, meeting) -> tuple[dict, int]:
    """Connect anew and return the snapshot with its size in bytes, as sent."""
    async with connect(None, meeting, cookie=user_cookie, expect_snapshot=False) as client:
        assert client.connected, client.refused_with
        message = await client.communicator.receive_output(ANSWER_TIMEOUT)
        assert message["type"] == "websocket.send", message
        raw = message["text"]
        snapshot = json.loads(raw)
        assert snapshot["type"] == "snapshot", snapshot
        return snapshot, len(raw.encode("utf-8"))


# Frame types to draw: all of them, and again those that build up a room and run its
# rounds (a fixed mix: what is drawn never depends on what the server did).
DRAWN_TYPES = [
    *FUZZ_TYPES,
    *["chat.send", "hand.raise", "reaction.send", "round.start", "floor.grant"],
    *["turn.done", "turn.pass", "round.next", "round.skip", "feelings.share"] * 2,
]


def senders(kind: str) -> st.SearchStrategy:
    """Who sends it: mostly whoever may (a facilitator for his frames, the current
    speaker for a turn's), sometimes anyone."""
    anyone = st.sampled_from(["facilitator", "member"])
    if kind in FACILITATOR_TYPES:
        return mostly(st.just("facilitator"), anyone)
    if kind in ("turn.done", "turn.pass", "feelings.share"):
        return mostly(st.just("speaker"), anyone)
    return anyone


async def check_frame(data, ctx: Ctx, room, sockets: dict, step: int) -> None:
    """Draw one frame, send it from a drawn socket, and check its answer (properties 1-4)."""
    kind = data.draw(st.sampled_from(DRAWN_TYPES), label=f"step {step}: type")
    who = data.draw(senders(kind), label=f"step {step}: from")
    plan = data.draw(plans(f"s{step}", kind), label=f"step {step}: frame")
    if who == "speaker":
        speaker = [name for name, pk in ctx.people.items() if pk == ctx.speaker]
        who = speaker[0] if speaker else "member"
    wire = build(plan, ctx)
    sender = sockets[who]
    what = f"{wire!r} from the {who}"
    before = await room_state(room.pk)
    await send_wire(sender, wire)
    answer = await answer_to(sender, ctx, what)
    label = f"{_kind(wire)} from the {who}: {_outcome(answer)}"
    event(label.encode("ascii", "backslashreplace").decode())  # --hypothesis-show-statistics
    for name, other in sockets.items():
        if name != who:
            drain(other, ctx, what)

    if answer["type"] == "events":
        assert valid_resync(wire), (what, "events answered a frame that is not a valid resync")
        newest = answer["frames"][-1]["seq"]
        after = _parsed(wire)["after"]
        seqs = [e["seq"] for f in answer["frames"] for e in f["events"]]
        assert seqs == list(range(after + 1, after + 1 + len(seqs))), (what, seqs)
        assert not seqs or seqs[-1] == newest, (what, seqs, newest)
        assert await room_state(room.pk) == before, (what, "resync changed the room")
        return
    assert valid_resync(wire) is False or answer["type"] == "error", (what, answer)
    assert answer["ref"] == expected_ref(wire), (what, answer, expected_ref(wire))
    if answer["type"] == "error":
        assert answer["code"] in ERROR_CODES, (what, answer)
        assert answer["code"] != "server_error", (what, answer)
        assert isinstance(answer["message"], str) and answer["message"], (what, answer)
        if certainly_invalid(wire):
            assert answer["code"] == "invalid", (what, answer)
        after = await room_state(room.pk)
        assert after == before, (what, answer, _diff(before, after))
        return
    assert answer["type"] == "ack", (what, answer)
    assert not certainly_invalid(wire), (what, "a malformed frame was acked", answer)
    assert set(answer) == {"type", "ref", "seq"}, (what, answer)
    count, newest = await log_bounds(room.pk)
    assert count == newest, (what, "the log has a gap", count, newest)
    seq = answer["seq"]
    if seq is not None:
        assert isinstance(seq, int) and 1 <= seq <= newest, (what, answer, newest)
        for client in sockets.values():
            await catch_up(client, ctx, seq, what)


def _kind(wire: Wire) -> str:
    """A short label for --hypothesis-show-statistics."""
    if wire.mutation:
        return f"mutated ({wire.mutation})"
    data = _parsed(wire)
    kind = data.get("type") if isinstance(data, dict) else None
    kind = kind if isinstance(kind, str) and kind in KNOWN_TYPES else "unknown type"
    return kind if wire.how == "frame" else f"{kind} ({wire.how})"


def _outcome(answer: dict) -> str:
    if answer["type"] == "ack":
        return "ack" if answer["seq"] is None else "ack with seq"
    if answer["type"] == "error":
        return answer["code"]
    return "events"


def _diff(before: dict, after: dict) -> dict:
    return {k: (before[k], after[k]) for k in before if before[k] != after[k]}


async def sentinel(client, ctx: Ctx, name: str) -> None:
    """A frame refused for sure: its error must be the next answer (so no frame had a
    second answer), and the socket must still be open."""
    ref = f"sentinel-{name}"
    await send_wire(client, Wire("sentinel", text=json.dumps({"id": ref, "type": "no.such"})))
    answer = await answer_to(client, ctx, f"the {name} sentinel")
    assert answer.get("ref") == ref and answer.get("code") == "invalid", (
        "an extra answer came before the sentinel's",
        answer,
    )


# Fixtures ------------------------------------------------------------------------------


@pytest.fixture
def fuzz_settings(settings):
    # Departures confirm quickly, so the test's end doesn't wait 5 s for them.
    settings.HEARTH_PRESENCE_GRACE_SECONDS = 0.2
    # A channel layer of this test's own (Channels drops its layers when CHANNEL_LAYERS
    # changes, and again when pytest-django puts it back). channels_redis keeps one
    # receive lock per process channel, and leaks it when a consumer is cancelled while
    # waiting for it: a later test, on another event loop, then fails with "Lock is bound
    # to a different event loop". These tests open and close many sockets.
    settings.CHANNEL_LAYERS = copy.deepcopy(settings.CHANNEL_LAYERS)


@pytest.fixture
def foreign_member(db):
    """Someone of another circle: a realistic id that must be `not_found` here."""
    return factories.make_member(factories.make_circle(), alias="Elsewhere")


@pytest_asyncio.fixture
async def settled(fuzz_settings):
    """Let this loop's leftovers finish before it closes: departures to confirm, the
    channel layer's receive cleaners, its Redis connections."""
    yield
    await settle_departures()
    layer = get_channel_layer()
    await asyncio.gather(*list(getattr(layer, "receive_cleaners", [])), return_exceptions=True)
    close_pools = getattr(layer, "close_pools", None)
    if close_pools is not None:
        await close_pools()


@database_sync_to_async
def new_room(circle, status: str):
    Membership.objects.filter(circle=circle).update(muted_until=None)
    return factories.make_meeting(circle, status=status)


@database_sync_to_async
def new_circle():
    """A circle of its own for an example that removes someone (a circle holds 10)."""
    circle = factories.make_circle()
    return (
        circle,
        factories.facilitator_of(circle),
        factories.make_member(circle, alias="Sam"),
        factories.make_member(circle, alias="Alex"),
    )


@database_sync_to_async
def membership_status(pk: int) -> str:
    return Membership.objects.get(pk=pk).status


# Property: random and mutated frames ---------------------------------------------------

FUZZ_SETTINGS = settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@FUZZ_SETTINGS
@given(data=st.data())
async def test_every_frame_gets_one_answer_and_refusals_change_nothing(
    data,
    library,
    circle,
    facilitator,
    member,
    other_member,
    foreign_member,
    settled,
):
    host_user, sam_user = await users_of(facilitator, member)
    cookies = {
        "facilitator": await session_cookie_for(host_user),
        "member": await session_cookie_for(sam_user),
    }
    status = data.draw(
        st.sampled_from([MeetingStatus.LIVE] * 4 + [MeetingStatus.SCHEDULED]), label="meeting"
    )
    room = await new_room(circle, status)
    ctx = Ctx(
        people={"facilitator": facilitator.pk, "member": member.pk},
        member_ids=[facilitator.pk, member.pk, other_member.pk],
        foreign_ids=[foreign_member.pk, 2**40],
    )
    async with (
        connect(None, room, cookie=cookies["facilitator"]) as host,
        connect(None, room, cookie=cookies["member"]) as sam,
    ):
        for client in (host, sam):
            client.last_seq = client.snapshot["seq"]
        ctx.observe(host.snapshot)
        sockets = {"facilitator": host, "member": sam}
        steps = data.draw(st.integers(5, 30), label="frames")
        for step in range(steps):
            await check_frame(data, ctx, room, sockets, step)
        for name, client in sockets.items():
            await sentinel(client, ctx, name)
        snapshot, size = await fresh_snapshot(cookies["facilitator"], room)
    assert size <= FACILITATOR_SNAPSHOT_MAX_BYTES, (size, FACILITATOR_SNAPSHOT_MAX_BYTES)
    count, newest = await log_bounds(room.pk)
    assert count == newest == snapshot["seq"], (count, newest, snapshot["seq"])
    seqs = [e["seq"] for e in snapshot["events"]]
    assert seqs == list(range(newest - len(seqs) + 1, newest + 1)), seqs


# Property: frames that end the session -------------------------------------------------


@settings(FUZZ_SETTINGS, max_examples=30)
@given(data=st.data())
async def test_only_removal_and_the_end_close_sockets(data, library, foreign_member, settled):
    """After some fuzzing, one of: the facilitator removes the member (his two sockets
    close 4403, nobody else's), ends the meeting (every socket closes 4410), or a
    refused attempt (the member trying either, the facilitator removing himself or a
    bad id) that closes nothing and changes nothing."""
    circle, facilitator, member, other_member = await new_circle()
    host_user, sam_user = await users_of(facilitator, member)
    cookies = {
        "facilitator": await session_cookie_for(host_user),
        "member": await session_cookie_for(sam_user),
    }
    room = await new_room(circle, MeetingStatus.LIVE)
    ctx = Ctx(
        people={"facilitator": facilitator.pk, "member": member.pk},
        member_ids=[facilitator.pk, member.pk, other_member.pk],
        foreign_ids=[foreign_member.pk],
    )
    ending = data.draw(
        st.sampled_from(
            ["remove", "end", "member_removes", "member_ends", "remove_self", "remove_stranger"]
        ),
        label="ending",
    )
    async with (
        connect(None, room, cookie=cookies["facilitator"]) as host,
        connect(None, room, cookie=cookies["member"]) as sam,
        connect(None, room, cookie=cookies["member"]) as sam_tab,
    ):
        for client in (host, sam, sam_tab):
            client.last_seq = client.snapshot["seq"]
        ctx.observe(host.snapshot)
        sockets = {"facilitator": host, "member": sam}
        for step in range(data.draw(st.integers(0, 6), label="frames first")):
            await check_frame(data, ctx, room, sockets, step)
        drain(sam_tab, ctx, "the fuzzing")

        frame, sender = {
            "remove": ({"type": "member.remove", "membership_id": member.pk}, host),
            "end": ({"type": "meeting.end"}, host),
            "member_removes": ({"type": "member.remove", "membership_id": facilitator.pk}, sam),
            "member_ends": ({"type": "meeting.end"}, sam),
            "remove_self": ({"type": "member.remove", "membership_id": facilitator.pk}, host),
            "remove_stranger": (
                {"type": "member.remove", "membership_id": foreign_member.pk},
                host,
            ),
        }[ending]
        before = await room_state(room.pk)
        await send_wire(sender, Wire(ending, text=json.dumps({"id": "last", **frame})))
        answer = await answer_to(sender, ctx, frame)
        assert answer["ref"] == "last", answer
        everyone = {"facilitator": host, "member": sam, "member's second tab": sam_tab}
        if ending == "remove":
            assert answer["type"] == "ack", answer
            assert await membership_status(member.pk) == "removed"
            for name in ("member", "member's second tab"):
                assert await everyone[name].receive_close() == 4403, name
            await sentinel(host, ctx, "facilitator")
            refused = await connect_refusal(cookies["member"], room)
            assert refused == 4403, refused
        elif ending == "end":
            assert answer["type"] == "ack", answer
            for name, client in everyone.items():
                assert await client.receive_close() == 4410, name
            refused = await connect_refusal(cookies["facilitator"], room)
            assert refused == 4410, refused
            state = await room_state(room.pk)
            assert state["meeting"][0][0] == "ended"
            assert all(r[-1] is not None for r in state["rounds"]), state["rounds"]
        else:
            expected = "not_found" if ending == "remove_stranger" else "forbidden"
            assert answer["type"] == "error" and answer["code"] == expected, answer
            assert await room_state(room.pk) == before
            for name, client in everyone.items():
                await sentinel(client, ctx, name)
            _, size = await fresh_snapshot(cookies["facilitator"], room)
            assert size <= FACILITATOR_SNAPSHOT_MAX_BYTES


async def connect_refusal(cookie: str, meeting) -> int | None:
    """Connect again: the close code the room refuses with (None if it let him in)."""
    async with connect(None, meeting, cookie=cookie, expect_snapshot=False) as client:
        if not client.connected:
            return client.refused_with
        message = await client.communicator.receive_output(ANSWER_TIMEOUT)
        if message["type"] == "websocket.close":
            return message.get("code")
        return None


# The fullest room: the bound itself, not just what the fuzzing reached -----------------


EMOJI = "\U0001f600"  # four bytes of UTF-8, one character


@database_sync_to_async
def fullest_agenda(circle, facilitator) -> None:
    """The circle's own agenda as large as its pages allow: 30 steps, each with a
    120-character title and a 300-character purpose, and all the notes the agenda may
    hold (up to 2,000 characters a step)."""
    from facilitation import library_services, scripts
    from facilitation.models import Script

    built_in = scripts.scripts_for(circle=circle).filter(circle__isnull=True).first()
    script = scripts.script_copy(
        actor=facilitator, circle=circle, script=built_in, make_default=True
    )
    notes_left = library_services.AGENDA_NOTES_MAX

    def fields() -> dict[str, Any]:
        nonlocal notes_left
        notes = min(notes_left, library_services.STEP_NOTES_MAX)
        notes_left -= notes
        return {"title": EMOJI * 120, "purpose": EMOJI * 300, "notes": EMOJI * notes, "minutes": 5}

    steps = Script.objects.get(pk=script.pk).steps.all()
    steps.update(notes="")
    for step in steps:
        library_services.script_step_update(actor=facilitator, circle=circle, step=step, **fields())
    while script.steps.count() < library_services.MAX_STEPS:
        library_services.script_step_add(
            actor=facilitator, circle=circle, script=script, **fields()
        )


@database_sync_to_async
def reporters(circle, count: int) -> list:
    return [factories.make_member(circle, alias=EMOJI * 38 + f"{n:02d}") for n in range(count)]


@database_sync_to_async
def backdate_log(meeting_pk: int) -> None:
    """As if the messages so far were sent an hour ago: the chat rate window allows
    five per ten seconds, and a full room is built over an evening, not in a second."""
    with connection.cursor() as cursor:
        cursor.execute(
            "update realtime_meetingevent set created_at = created_at - interval '1 hour'"
            " where meeting_id = %s",
            [meeting_pk],
        )


async def raw_request(client, frame: dict) -> dict:
    """Send with raw UTF-8 (a 2,000-emoji body is 8 KB so, 24 KB as JSON escapes)."""
    await client.send_raw(json.dumps(frame, ensure_ascii=False))
    return await client.reply_to(frame["id"])


@pytest.mark.parametrize(
    ("whose", "bound"),
    [("member", SNAPSHOT_MAX_BYTES), ("facilitator", FACILITATOR_SNAPSHOT_MAX_BYTES)],
)
async def test_the_fullest_room_snapshot_stays_within_its_bound(
    whose, bound, library, room, circle, facilitator, settled
):
    """Everything the limits allow, at four bytes a character: the longest agenda the
    pages allow, 100 chat messages of 2,000 characters that sound like a crisis (100
    open alerts, 20 sent), and 21 open flags with 500-character reasons (20 sent). Eight
    people share the chat, as a full room would (each stays within chat's limits)."""
    await fullest_agenda(circle, facilitator)
    people = await reporters(circle, 7)
    host_user, *reporter_users = await users_of(facilitator, *people)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(connect(user, room))
            for user in (host_user, *reporter_users)
        ]
        seqs = []
        for n in range(100):
            body = "I want to kill myself " + EMOJI * 1978
            frame = {"id": f"c{n}", "type": "chat.send", "body": body, "client_id": f"c{n}"}
            reply = await raw_request(clients[n % len(clients)], frame)
            assert reply["type"] == "ack", reply
            seqs.append(reply["seq"])
            if n % (5 * len(clients)) == 5 * len(clients) - 1:
                await backdate_log(room.pk)  # five each
        for reporter in clients[1:]:
            for n in range(3):
                frame = {
                    "id": f"f{n}",
                    "type": "message.report",
                    "target_seq": seqs[n],
                    "reason": EMOJI * 500,
                }
                answer = await raw_request(reporter, frame)
                assert answer["type"] == "ack", answer
    user = host_user if whose == "facilitator" else reporter_users[0]
    snapshot, size = await fresh_snapshot(await session_cookie_for(user), room)
    print(f"the {whose}'s snapshot: {size:,} bytes, {len(snapshot['events'])} events")
    assert size <= bound, (size, bound)
    # The newest events that fit in their share, gapless up to the snapshot's seq.
    seqs = [e["seq"] for e in snapshot["events"]]
    assert 0 < len(seqs) < 100
    assert seqs == list(range(snapshot["seq"] - len(seqs) + 1, snapshot["seq"] + 1))
    assert len(json.dumps(snapshot["events"], ensure_ascii=False).encode()) <= (
        SNAPSHOT_EVENTS_MAX_BYTES
    )
