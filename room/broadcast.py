"""The one place that sends to websockets, and only after the transaction commits.

Everything goes through the meeting's fan-out (room.fanout): events, notices, private
frames and closes, one message per change. It carries notifications, never state: every
event sent here is already in the database, so a client that misses one gets it back
with `resync`. Frames are serialised once here, not once per connection.
"""

import hashlib
import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from .fanout import fanout

logger = logging.getLogger(__name__)


def dumps(message: dict[str, Any]) -> str:
    """Every outbound frame's text: compact, UTF-8 as is."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=str)


FACILITATORS = "facilitators"


def member(membership_pk: int) -> str:
    """The audience of one person's sockets in a meeting (room.fanout)."""
    return f"member:{membership_pk}"


def all_but(membership_pk: int) -> str:
    """Everyone in the meeting but him (he hears of his own arrival from his snapshot)."""
    return f"all-but:{membership_pk}"


def connection(connection_pk: int) -> str:
    """The audience of one socket (room.models.Connection): the oldest of too many, or
    one opened with a login session that logged out."""
    return f"connection:{connection_pk}"


def session_hash(session_key: str) -> str:
    """What a Connection keeps of the login session it was opened with (to close it on
    logout): a hash, so no table but Django's own holds a session key."""
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


# Set by a consumer around a service call: messages committed during the call are
# handed back to it and sent from the event loop, instead of blocking a database thread
# on a round trip to Redis.
@dataclass(frozen=True)
class Outgoing:
    room_key: str  # the meeting's (room.fanout)
    message: dict[str, Any]


_collected: ContextVar[list[Outgoing] | None] = ContextVar(
    "hearth_broadcast_collected", default=None
)


def _send(outgoing: Outgoing) -> None:
    collected = _collected.get()
    if collected is not None:
        collected.append(outgoing)
    else:
        async_to_sync(_deliver_one)(outgoing)


async def _deliver_one(outgoing: Outgoing) -> None:
    await fanout(settings.REDIS_URL).publish(outgoing.room_key, outgoing.message)


def collect() -> tuple[list[Outgoing], Any]:
    """Start collecting (in the consumer's task, before the service call)."""
    collected: list[Outgoing] = []
    return collected, _collected.set(collected)


async def deliver(collected: list[Outgoing], token: Any) -> None:
    """Stop collecting and send what the committed call produced, in order."""
    _collected.reset(token)
    for outgoing in collected:
        try:
            await _deliver_one(outgoing)
        except Exception as error:  # committed: the sender's answer stays an ack
            logger.warning("could not deliver to %s: %s", outgoing.room_key, type(error).__name__)


def to_meeting_on_commit(room_key: str, message: dict[str, Any]) -> None:
    """A meeting's message for room.fanout: its events and notices, the frames for some
    people in it, the sockets to close, in that order (room.log.EventLog builds it)."""
    outgoing = Outgoing(room_key, message)
    transaction.on_commit(lambda: _send(outgoing))
