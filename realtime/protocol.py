"""The live meeting protocol's shapes, in one leaf module (see docs/protocol.md).

Inbound frames are parsed into typed, validated messages here, so that nothing past
this module sees raw JSON. A bad frame raises FrameError with a protocol error code;
it never closes the connection and never changes state.
"""

import json
from dataclasses import dataclass, field
from typing import Any

MAX_FRAME_BYTES = 16 * 1024
MAX_JSON_DEPTH = 16
"""Arrays and objects nested deeper than this are refused before parsing: frames are
flat, and a frame of thousands of '[' would otherwise reach the parser's recursion limit."""
MAX_ID_CHARS = 64
MAX_BODY_CHARS = 2000
SNAPSHOT_EVENTS = 100
SNAPSHOT_NOTICES = 20  # open crisis alerts, and open reports, in a facilitator's snapshot
RESYNC_BATCH = 500


class ErrorCode:
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    NOT_YOUR_TURN = "not_your_turn"
    MUTED = "muted"
    RATE_LIMITED = "rate_limited"
    NOT_LIVE = "not_live"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SERVER_ERROR = "server_error"


class CloseCode:
    NOT_LOGGED_IN = 4401
    NOT_ALLOWED = 4403
    NOT_FOUND = 4404
    ENDED = 4410
    LAYER_LOST = 4012  # not final: reconnect and resync (realtime.layer_watch)


class FrameError(Exception):
    """A frame was refused. `message` is written for a person."""

    def __init__(self, code: str, message: str, *, close_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


@dataclass(frozen=True)
class Frame:
    """A parsed client frame: its type, optional id (echoed as `ref`) and fields."""

    type: str
    id: str | None
    fields: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


# Field rules ---------------------------------------------------------------------------
# Each rule takes the raw value and returns the clean one, or raises FrameError.


def _invalid(message: str) -> FrameError:
    return FrameError(ErrorCode.INVALID, message)


def storable(value: str) -> bool:
    """False for text PostgreSQL cannot keep and UTF-8 cannot carry: U+0000, or half of a
    surrogate pair (JSON's "\\ud800" escapes make them; a broken emoji looks like one)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nested_too_deep(raw: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether arrays/objects nest deeper than `limit`, counted outside strings. Frames
    with few brackets (all real ones) skip the scan."""
    if raw.count("[") + raw.count("{") <= limit:
        return False
    depth = 0
    in_string = escaped = False
    for char in raw:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _loads(raw: str | bytes) -> Any:
    """json.loads with the nesting checked first; ValueError for anything not JSON."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    if nested_too_deep(text):
        raise ValueError("nested too deep")
    return json.loads(text)


def _valid_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS and storable(value)


def text(*, min_len: int = 0, max_len: int, strip: bool = True):
    def rule(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _invalid(f"“{name}” must be text.")
        if not storable(value):
            raise _invalid(
                f"“{name}” has a character we can't keep (a null character or half of an "
                "emoji). Please take it out and try again."
            )
        value = value.strip() if strip else value
        if len(value) < min_len:
            raise _invalid(
                f"“{name}” can't be empty." if min_len == 1 else f"“{name}” is too short."
            )
        if len(value) > max_len:
            raise _invalid(f"“{name}” is too long (at most {max_len} characters).")
        return value

    return rule


def integer(*, minimum: int | None = None, maximum: int | None = None):
    def rule(name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _invalid(f"“{name}” must be a whole number.")
        if minimum is not None and value < minimum:
            raise _invalid(f"“{name}” must be at least {minimum}.")
        if maximum is not None and value > maximum:
            raise _invalid(f"“{name}” must be at most {maximum}.")
        return value

    return rule


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid(f"“{name}” must be true or false.")
    return value


def choice(*options: str):
    def rule(name: str, value: Any) -> str:
        if value not in options:
            raise _invalid(f"“{name}” must be one of: {', '.join(options)}.")
        return value

    return rule


def optional(inner):
    def rule(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    return rule


def list_of(inner, *, max_items: int):
    def rule(name: str, value: Any) -> list:
        if not isinstance(value, list):
            raise _invalid(f"“{name}” must be a list.")
        if len(value) > max_items:
            raise _invalid(f"“{name}” has too many items (at most {max_items}).")
        return [inner(name, item) for item in value]

    return rule


REQUIRED = object()
ID = integer(minimum=1)
SEQ = integer(minimum=1)
REACTION_KINDS = ("heard", "respect", "support")
ROUND_KINDS = ("check_in", "check_out", "topic")
ROUND_ORDERS = ("seating", "random", "facilitator_first")

# type -> {field: (rule, default)}; default REQUIRED means the field must be present.
MEMBER_FRAMES: dict[str, dict[str, tuple[Any, Any]]] = {
    "resync": {"after": (integer(minimum=0), REQUIRED)},
    "chat.send": {
        "body": (text(min_len=1, max_len=MAX_BODY_CHARS), REQUIRED),
        "client_id": (optional(text(min_len=1, max_len=MAX_ID_CHARS, strip=False)), None),
    },
    "hand.raise": {},
    "hand.lower": {},
    "turn.done": {"turn_id": (optional(ID), None)},
    "turn.pass": {"turn_id": (optional(ID), None)},
    "reaction.send": {
        "target_seq": (SEQ, REQUIRED),
        "kind": (choice(*REACTION_KINDS), REQUIRED),
    },
    "message.report": {
        "target_seq": (SEQ, REQUIRED),
        "reason": (text(max_len=500), ""),
    },
    "feelings.share": {
        "words": (list_of(text(min_len=1, max_len=30), max_items=6), []),
        "weather": (optional(integer(minimum=1, maximum=10)), None),
    },
}

FACILITATOR_FRAMES: dict[str, dict[str, tuple[Any, Any]]] = {
    "meeting.open": {},
    "meeting.end": {},
    "phase.set": {"step_id": (optional(ID), REQUIRED)},
    "round.start": {
        "kind": (choice(*ROUND_KINDS), REQUIRED),
        "prompt_id": (optional(ID), None),
        "prompt": (optional(text(min_len=1, max_len=500)), None),
        "order": (choice(*ROUND_ORDERS), "seating"),
        "seconds_per_turn": (optional(integer(minimum=10, maximum=1800)), None),
        "quiet_seconds": (optional(integer(minimum=0, maximum=300)), None),
    },
    "round.next": {"turn_id": (ID, REQUIRED)},
    "round.skip": {"turn_id": (ID, REQUIRED)},
    "round.end": {},
    "floor.grant": {"membership_id": (ID, REQUIRED)},
    "floor.release": {},
    "queue.move": {"membership_id": (ID, REQUIRED), "position": (integer(minimum=0), REQUIRED)},
    # Extension: take someone's raised hand down (he left for good, or asked to).
    "queue.remove": {"membership_id": (ID, REQUIRED)},
    "queue.mode": {
        "talking_piece": (optional(boolean), None),
        "progressive": (optional(boolean), None),
    },
    "prompt.push": {
        "prompt_id": (optional(ID), None),
        "prompt": (optional(text(min_len=1, max_len=500)), None),
    },
    "member.mute": {
        "membership_id": (ID, REQUIRED),
        "minutes": (integer(minimum=1, maximum=240), 10),
    },
    "member.unmute": {"membership_id": (ID, REQUIRED)},
    "member.remove": {"membership_id": (ID, REQUIRED)},
    "message.delete": {"target_seq": (SEQ, REQUIRED)},
}

FRAME_TYPES = MEMBER_FRAMES | FACILITATOR_FRAMES


def parse_frame(raw: str | bytes | None) -> Frame:
    """Turn one websocket text frame into a Frame, or raise FrameError (`invalid`)."""
    if raw is None:
        raise _invalid("Frames must be JSON text.")
    size = len(raw.encode() if isinstance(raw, str) else raw)
    if size > MAX_FRAME_BYTES:
        raise _invalid(f"That frame is too large (at most {MAX_FRAME_BYTES // 1024} KiB).")
    try:
        data = _loads(raw)
    except ValueError:  # UnicodeDecodeError is one
        raise _invalid("Frames must be JSON, with at most a few levels of nesting.") from None
    if not isinstance(data, dict):
        raise _invalid("A frame must be a JSON object with a “type”.")
    frame_id = data.get("id")
    if frame_id is not None and not _valid_id(frame_id):
        raise _invalid("“id” must be text of at most 64 characters.")
    frame_type = data.get("type")
    if not isinstance(frame_type, str) or frame_type not in FRAME_TYPES:
        error = _invalid("Unknown frame type.")
        error.ref = frame_id  # type: ignore[attr-defined]
        raise error
    fields: dict[str, Any] = {}
    try:
        for name, spec in FRAME_TYPES[frame_type].items():
            rule, default = spec
            if name not in data:
                if default is REQUIRED:
                    raise _invalid(f"“{name}” is missing.")
                fields[name] = default
                continue
            fields[name] = rule(name, data[name])
    except FrameError as error:
        error.ref = frame_id  # type: ignore[attr-defined]
        raise
    return Frame(type=frame_type, id=frame_id, fields=fields)


def frame_ref(raw: str | bytes | None) -> str | None:
    """Best effort: the id of a frame that failed to parse, to echo as `ref`."""
    try:
        data = _loads(raw) if raw else None
    except ValueError:
        return None
    if isinstance(data, dict) and _valid_id(data.get("id")):
        return data["id"]
    return None


# Outbound shapes ----------------------------------------------------------------------


def ack(ref: str | None, seq: int | None) -> dict[str, Any]:
    return {"type": "ack", "ref": ref, "seq": seq}


def error(ref: str | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "ref": ref, "code": code, "message": message}


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)
