"""The one place that sends to websockets, and only after the transaction commits.

The channel layer carries notifications, never state: every event sent here is already
in the database, so a client that misses one gets it back with `resync`. Frames are
serialised once here, not once per connection.
"""

import hashlib
import json
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def dumps(message: dict[str, Any]) -> str:
    """Every outbound frame's text: compact, UTF-8 as is."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)


def meeting_group(meeting_pk: int) -> str:
    return f"meeting-{meeting_pk}"


def facilitators_group(meeting_pk: int) -> str:
    return f"meeting-{meeting_pk}-facilitators"


def member_group(meeting_pk: int, membership_pk: int) -> str:
    return f"meeting-{meeting_pk}-member-{membership_pk}"


def user_group(user_pk: int) -> str:
    """Every socket of one person, in any meeting: closed when his password changes."""
    return f"user-{user_pk}"


def session_group(session_key: str) -> str:
    """The sockets opened with one login session: closed when it logs out. Hashed, so
    Redis never holds a session key."""
    return "session-" + hashlib.sha256(session_key.encode()).hexdigest()[:32]


# Set by a consumer around a service call: messages committed during the call are
# handed back to it and sent from the event loop, instead of blocking the shared
# database thread on a round trip to the channel layer. Each entry: (group or channel,
# message, whether it is one channel).
Outgoing = tuple[str, dict[str, Any], bool]
_collected: ContextVar[list[Outgoing] | None] = ContextVar(
    "hearth_broadcast_collected", default=None
)


def _send(target: str, message: dict[str, Any], *, channel: bool = False) -> None:
    collected = _collected.get()
    if collected is not None:
        collected.append((target, message, channel))
        return
    layer = get_channel_layer()
    if layer is not None:
        send = layer.send if channel else layer.group_send
        async_to_sync(send)(target, message)


def collect() -> tuple[list[Outgoing], Any]:
    """Start collecting (in the consumer's task, before the service call)."""
    collected: list[Outgoing] = []
    return collected, _collected.set(collected)


async def deliver(collected: list[Outgoing], token: Any) -> None:
    """Stop collecting and send what the committed call produced, in order."""
    _collected.reset(token)
    layer = get_channel_layer()
    if layer is None:
        return
    for target, message, channel in collected:
        await (layer.send if channel else layer.group_send)(target, message)


def send_frames_on_commit(group: str, frames: Iterable[dict[str, Any]]) -> None:
    texts = [dumps(frame) for frame in frames]
    if texts:
        # Facilitator notices are re-checked on delivery: someone who stopped being a
        # facilitator after connecting must not keep receiving them.
        kind = "room.facilitator_frames" if group.endswith("-facilitators") else "room.frames"
        message = {"type": kind, "frames": texts}
        transaction.on_commit(lambda: _send(group, message))


def close_on_commit(group: str, code: int) -> None:
    """Close every socket in the group (removed member: 4403; meeting ended: 4410)."""
    message = {"type": "room.close", "code": code}
    transaction.on_commit(lambda: _send(group, message))


def close_channel_on_commit(channel_name: str, code: int) -> None:
    """Close one socket (the oldest of too many: 4409)."""
    message = {"type": "room.close", "code": code}
    transaction.on_commit(lambda: _send(channel_name, message, channel=True))
