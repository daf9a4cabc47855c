"""The live meeting protocol's shapes, in one module (see docs/protocol.md).

Inbound: a frame's JSON becomes a typed command (a frozen dataclass per frame type,
each field with its rule), so nothing past this module sees raw JSON. A bad frame
raises RoomError (`invalid`); it never closes the connection and never changes state.
Outbound: every frame the server writes is built by a function at the end of this
module.
"""

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, Protocol

from accounts.text import printable
from room.broadcast import dumps
from room.errors import ErrorCode, RoomError

__all__ = ["dumps"]

MAX_FRAME_BYTES = 16 * 1024
MAX_JSON_DEPTH = 16
"""Arrays and objects nested deeper than this are refused before parsing: frames are
flat, and a frame of thousands of '[' would otherwise reach the parser's recursion limit."""
MAX_ID_CHARS = 64
MAX_BODY_CHARS = 2000
SNAPSHOT_EVENTS = 100
SNAPSHOT_NOTICES = 20  # open crisis alerts, and open reports, in a facilitator's snapshot
RESYNC_BATCH = 500

# Sizes in bytes of UTF-8, as sent. Text limits count characters; a character is at most
# 4 bytes once control characters are refused (accounts.text), so the worst case of
# every part is known. tests/realtime/test_limits.py fills every list of a snapshot to
# its limit, with 4-byte characters, and checks both bounds.
SNAPSHOT_MAX_BYTES = 256 * 1024
"""A member's snapshot is never larger: most people connect from a phone."""
FACILITATOR_SNAPSHOT_MAX_BYTES = 512 * 1024
"""A facilitator's snapshot also carries the console (agenda notes, the prompt library,
coaching cards, intentions, open flags); at worst about 450 KiB, half of daphne's 1 MiB."""
SNAPSHOT_EVENTS_MAX_BYTES = 96 * 1024
"""The snapshot's events: the newest SNAPSHOT_EVENTS, fewer when they would weigh more
(a hundred long messages of emoji). The client resyncs for older ones if it needs them."""
EVENTS_FRAME_MAX_BYTES = 256 * 1024
"""One `events` frame of a resync: at most RESYNC_BATCH events, fewer past this size."""


def size_of(part: Any) -> int:
    """Bytes the part takes in a frame."""
    return len(dumps(part).encode("utf-8"))


def newest_within(events: list[dict[str, Any]], max_bytes: int) -> list[dict[str, Any]]:
    """The newest of `events` (oldest first) that together fit in max_bytes. One
    measurement when all fit, the usual case."""
    if size_of(events) <= max_bytes:
        return events
    kept, used = 0, 2  # the list's brackets
    for event in reversed(events):
        used += size_of(event) + 1
        if used > max_bytes:
            break
        kept += 1
    return events[len(events) - kept :]


def oldest_within(events: list[dict[str, Any]], max_bytes: int) -> list[dict[str, Any]]:
    """The oldest of `events` that together fit in max_bytes, and always the first one,
    so a resync moves on however large an event is."""
    if size_of(events) <= max_bytes:
        return events
    kept, used = 0, 2
    for event in events:
        used += size_of(event) + 1
        if used > max_bytes and kept:
            break
        kept += 1
    return events[:kept]


# Field rules ---------------------------------------------------------------------------
# Each rule takes the raw value and returns the clean one, or raises RoomError.


Rule = Callable[[str, Any], Any]


def _invalid(message: str) -> RoomError:
    return RoomError(ErrorCode.INVALID, message)


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
    return isinstance(value, str) and len(value) <= MAX_ID_CHARS and printable(value)


def text(*, min_len: int = 0, max_len: int, strip: bool = True) -> Rule:
    def rule(name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise _invalid(f"“{name}” must be text.")
        if not printable(value):
            raise _invalid(
                f"“{name}” has a character we can't keep (an invisible control character "
                "or half of an emoji). Please take it out and try again."
            )
        clean: str = value.strip() if strip else value
        if len(clean) < min_len:
            raise _invalid(
                f"“{name}” can't be empty." if min_len == 1 else f"“{name}” is too short."
            )
        if len(clean) > max_len:
            raise _invalid(f"“{name}” is too long (at most {max_len} characters).")
        return clean

    return rule


def integer(*, minimum: int | None = None, maximum: int | None = None) -> Rule:
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


def choice(*options: str) -> Rule:
    def rule(name: str, value: Any) -> str:
        if not isinstance(value, str) or value not in options:
            raise _invalid(f"“{name}” must be one of: {', '.join(options)}.")
        return value

    return rule


def optional(inner: Rule) -> Rule:
    def rule(name: str, value: Any) -> Any:
        return None if value is None else inner(name, value)

    return rule


def list_of(inner: Rule, *, max_items: int) -> Rule:
    def rule(name: str, value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise _invalid(f"“{name}” must be a list.")
        if len(value) > max_items:
            raise _invalid(f"“{name}” has too many items (at most {max_items}).")
        return tuple(inner(name, item) for item in value)

    return rule


_REQUIRED: Any = MISSING
ID = integer(minimum=1)
SEQ = integer(minimum=1)
REACTION_KINDS = ("heard", "respect", "support")
ROUND_KINDS = ("check_in", "check_out", "topic")
ROUND_ORDERS = ("seating", "random", "facilitator_first")
MAX_REASON_CHARS = 500
MAX_PROMPT_CHARS = 500


def arg(rule: Rule, default: Any = _REQUIRED) -> Any:
    """A command field: its rule, and its default when the frame leaves it out (none:
    the field must be present)."""
    return field(default=default, metadata={"rule": rule})


class Command:
    """A client frame's meaning, fields typed and checked. Subclasses are frozen
    dataclasses; `type` is the frame's type on the wire."""

    type: ClassVar[str]

    def arguments(self) -> dict[str, Any]:
        """The fields as keyword arguments for the command's action."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


COMMANDS: dict[str, type[Command]] = {}


def command(frame_type: str) -> Callable[[type[Command]], type[Command]]:
    def register(cls: type[Command]) -> type[Command]:
        cls.type = frame_type
        frozen = dataclass(frozen=True, slots=True)(cls)
        COMMANDS[frame_type] = frozen
        return frozen

    return register


# Members' commands (facilitators may send them too) -----------------------------------


@command("resync")
class Resync(Command):
    after: int = arg(integer(minimum=0))


@command("chat.send")
class ChatSend(Command):
    body: str = arg(text(min_len=1, max_len=MAX_BODY_CHARS))
    client_id: str | None = arg(optional(text(min_len=1, max_len=MAX_ID_CHARS, strip=False)), None)


@command("hand.raise")
class HandRaise(Command):
    pass


@command("hand.lower")
class HandLower(Command):
    pass


@command("turn.done")
class TurnDone(Command):
    turn_id: int | None = arg(optional(ID), None)


@command("turn.pass")
class TurnPass(Command):
    turn_id: int | None = arg(optional(ID), None)


@command("reaction.send")
class ReactionSend(Command):
    target_seq: int = arg(SEQ)
    kind: str = arg(choice(*REACTION_KINDS))


@command("message.report")
class MessageReport(Command):
    target_seq: int = arg(SEQ)
    reason: str = arg(text(max_len=MAX_REASON_CHARS), "")


@command("feelings.share")
class FeelingsShare(Command):
    words: tuple[str, ...] = arg(list_of(text(min_len=1, max_len=30), max_items=6), ())
    weather: int | None = arg(optional(integer(minimum=1, maximum=10)), None)


# Facilitators' commands ----------------------------------------------------------------


@command("meeting.open")
class MeetingOpen(Command):
    pass


@command("meeting.end")
class MeetingEnd(Command):
    pass


@command("phase.set")
class PhaseSet(Command):
    step_id: int | None = arg(optional(ID))  # required, may be null (no step)


@command("round.start")
class RoundStart(Command):
    kind: str = arg(choice(*ROUND_KINDS))
    prompt_id: int | None = arg(optional(ID), None)
    prompt: str | None = arg(optional(text(min_len=1, max_len=MAX_PROMPT_CHARS)), None)
    order: str = arg(choice(*ROUND_ORDERS), "seating")
    seconds_per_turn: int | None = arg(optional(integer(minimum=10, maximum=1800)), None)
    quiet_seconds: int | None = arg(optional(integer(minimum=0, maximum=300)), None)


@command("round.next")
class RoundNext(Command):
    turn_id: int = arg(ID)


@command("round.skip")
class RoundSkip(Command):
    turn_id: int = arg(ID)


@command("round.end")
class RoundEnd(Command):
    pass


@command("floor.grant")
class FloorGrant(Command):
    membership_id: int = arg(ID)


@command("floor.release")
class FloorRelease(Command):
    pass


@command("queue.move")
class QueueMove(Command):
    membership_id: int = arg(ID)
    position: int = arg(integer(minimum=0))


@command("queue.remove")
class QueueRemove(Command):
    """[ext] Take someone's raised hand down (he left for good, or asked to)."""

    membership_id: int = arg(ID)


@command("queue.mode")
class QueueMode(Command):
    talking_piece: bool | None = arg(optional(boolean), None)
    progressive: bool | None = arg(optional(boolean), None)


@command("prompt.push")
class PromptPush(Command):
    prompt_id: int | None = arg(optional(ID), None)
    prompt: str | None = arg(optional(text(min_len=1, max_len=MAX_PROMPT_CHARS)), None)


@command("member.mute")
class MemberMute(Command):
    membership_id: int = arg(ID)
    minutes: int = arg(integer(minimum=1, maximum=240), 10)


@command("member.unmute")
class MemberUnmute(Command):
    membership_id: int = arg(ID)


@command("member.remove")
class MemberRemove(Command):
    membership_id: int = arg(ID)


@command("message.delete")
class MessageDelete(Command):
    target_seq: int = arg(SEQ)


@command("report.resolve")
class ReportResolve(Command):
    """[ext] A facilitator has looked at a flag: it leaves the open list."""

    report_id: int = arg(ID)


# Parsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    """A parsed client frame: its optional id (echoed as `ref`) and its command."""

    id: str | None
    command: Command

    @property
    def type(self) -> str:
        return self.command.type


def _refused(error: RoomError, ref: str | None) -> RoomError:
    error.ref = ref  # type: ignore[attr-defined]
    return error


def parse_frame(raw: str | bytes | None) -> Frame:
    """Turn one websocket text frame into a Frame, or raise RoomError (`invalid`)."""
    data = _frame_object(raw)
    frame_id = data.get("id")
    if frame_id is not None and not _valid_id(frame_id):
        raise _invalid("“id” must be text of at most 64 characters.")
    frame_type = data.get("type")
    cls = COMMANDS.get(frame_type) if isinstance(frame_type, str) else None
    if cls is None:
        raise _refused(_invalid("Unknown frame type."), frame_id)
    values: dict[str, Any] = {}
    try:
        for spec in fields(cls):  # type: ignore[arg-type]
            if spec.name in data:
                values[spec.name] = spec.metadata["rule"](spec.name, data[spec.name])
            elif spec.default is MISSING:
                raise _invalid(f"“{spec.name}” is missing.")
    except RoomError as error:
        raise _refused(error, frame_id) from None
    return Frame(id=frame_id, command=cls(**values))


def _frame_object(raw: str | bytes | None) -> dict[str, Any]:
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
    return data


def frame_ref(raw: str | bytes | None) -> str | None:
    """Best effort: the id of a frame that failed to parse, to echo as `ref`."""
    try:
        data = _loads(raw) if raw else None
    except ValueError:
        return None
    if isinstance(data, dict) and _valid_id(data.get("id")):
        return str(data["id"])
    return None


# Outbound shapes ----------------------------------------------------------------------
# Every frame the server writes is built here, so each shape is written once.


class HelpLine(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def contact(self) -> str: ...
    @property
    def region(self) -> str: ...


class Author(Protocol):
    @property
    def pk(self) -> int: ...
    @property
    def alias(self) -> str: ...
    @property
    def role(self) -> str: ...


def ack(ref: str | None, seq: int | None) -> dict[str, Any]:
    return {"type": "ack", "ref": ref, "seq": seq}


def error(ref: str | None, code: str, message: str) -> dict[str, Any]:
    return {"type": "error", "ref": ref, "code": code, "message": message}


def events_batch(events: list[dict[str, Any]], newest_seq: int) -> dict[str, Any]:
    return {"type": "events", "events": events, "seq": newest_seq}


def author(member: Author) -> dict[str, Any]:
    return {"membership_id": member.pk, "alias": member.alias, "role": member.role}


def help_lines(lines: Iterable[HelpLine]) -> list[dict[str, str]]:
    return [{"name": line.name, "contact": line.contact, "region": line.region} for line in lines]


def support_resources(lines: Iterable[HelpLine]) -> dict[str, Any]:
    """To the person whose words matched crisis language, and only to him."""
    return {"type": "support.resources", "resources": help_lines(lines)}


def crisis_alert(
    *, target_seq: int, member: Author, category: str, at: str | None = None
) -> dict[str, Any]:
    frame = {
        "type": "alert.crisis",
        "target_seq": target_seq,
        "membership_id": member.pk,
        "alias": member.alias,
        "category": category,
    }
    if at is not None:
        frame["at"] = at
    return frame


def report_received(
    *,
    report_id: int,
    target_seq: int,
    reason: str,
    reporter: Author,
    reports_open: int | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "report.received",
        "report_id": report_id,
        "target_seq": target_seq,
        "reason": reason,
        "reporter": author(reporter),
    }
    if reports_open is not None:
        frame["reports_open"] = reports_open
    if at is not None:
        frame["at"] = at
    return frame


def report_resolved(*, report_id: int, by: Author, reports_open: int) -> dict[str, Any]:
    return {
        "type": "report.resolved",
        "report_id": report_id,
        "by": author(by),
        "reports_open": reports_open,
    }


def presence_joined(member: Author) -> dict[str, Any]:
    return {"type": "presence.joined", **author(member)}


def presence_left(member: Author) -> dict[str, Any]:
    return {"type": "presence.left", "membership_id": member.pk, "alias": member.alias}


def as_text(frames: Iterable[Mapping[str, Any]]) -> list[str]:
    return [dumps(dict(frame)) for frame in frames]
