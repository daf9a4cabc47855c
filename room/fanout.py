"""Meeting broadcasts, fanned out once per process per meeting.

A meeting's events reach its sockets the shortest way there is: the process that
committed them publishes them once to the meeting's Redis pub/sub channel; every
process with sockets in that meeting is subscribed once and writes the ready-made text
to each of its sockets directly. Channels' groups would copy each message per socket
in Redis (RedisChannelLayer) or queue it per socket in the process (the pub/sub layer),
and wake each consumer to send it: `make bench` measured both (docs/performance.md).

Pub/sub keeps nothing: a message is lost to a process that is not connected when it is
published. So when this process's subscription breaks, it closes its sockets with 4012
and the clients resync from their last seq: every event is in the log already.
Without Redis (`make run`: one process, the in-memory layer) delivery is local only.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from .errors import CloseCode

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "hearth:room:"


class Listener(Protocol):
    """A socket in a meeting: writes ready-made frames, or closes."""

    def hears(self, audience: str) -> bool: ...
    async def deliver(self, common: list[str], private: list[list[Any]]) -> None: ...
    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None: ...


class Fanout:
    """This process's side: who listens to which meeting here, one subscription per
    meeting, and publishing. One instance per event loop (`fanout()`)."""

    def __init__(self, redis_url: str | None) -> None:
        self._redis_url = redis_url
        self._rooms: dict[str, set[Listener]] = {}
        self._subscriber: _Subscriber | None = None
        self._publisher: Any = None

    # Listening -----------------------------------------------------------------------

    async def join(self, room_key: str, listener: Listener) -> None:
        """Returns once whatever is published for the meeting from now on reaches the
        listener (the socket reads its snapshot after this)."""
        listeners = self._rooms.setdefault(room_key, set())
        first = not listeners
        listeners.add(listener)
        if first and self._redis_url:
            await self._subscription().subscribe(_channel(room_key))

    async def leave(self, room_key: str, listener: Listener) -> None:
        listeners = self._rooms.get(room_key)
        if listeners is None:
            return
        listeners.discard(listener)
        if not listeners:
            del self._rooms[room_key]
            if self._subscriber is not None and not self._subscriber.broken:
                await self._subscriber.unsubscribe(_channel(room_key))

    def listening(self) -> int:
        return sum(len(listeners) for listeners in self._rooms.values())

    # Publishing ----------------------------------------------------------------------

    async def publish(self, room_key: str, message: dict[str, Any]) -> None:
        """`message`: {"frames": [text, ...], "private": [[audience, [text, ...]], ...],
        "close": [[audience or None, code], ...]} (room.log.EventLog.publish)."""
        if not self._redis_url:
            await self._deliver(room_key, message)
            return
        if self._publisher is None:
            self._publisher = _publisher(self._redis_url)
        try:
            await self._publisher.publish(_channel(room_key), json.dumps(message))
        except Exception as error:
            # Committed, so not an error to the sender; but whoever missed it must hear
            # it: this process's sockets in the meeting resync (the others lose their
            # subscription with the same Redis, and resync too).
            logger.warning("fan-out: could not publish: %s", type(error).__name__)
            for listener in list(self._rooms.get(room_key, ())):
                await listener.close(code=CloseCode.LAYER_LOST)

    async def _deliver(self, room_key: str, message: dict[str, Any]) -> None:
        listeners = list(self._rooms.get(room_key, ()))
        common: list[str] = message.get("frames", [])
        private: list[list[Any]] = message.get("private", [])
        for listener in listeners:
            try:
                await listener.deliver(common, private)
            except Exception:  # a socket closing under us: its own disconnect cleans up
                logger.debug("fan-out: a socket refused its frames", exc_info=True)
        for who, code in message.get("close", []):
            for listener in listeners:
                if who is None or listener.hears(who):
                    await listener.close(code=code)

    # The subscription ------------------------------------------------------------------

    def _subscription(self) -> _Subscriber:
        if self._subscriber is None or self._subscriber.broken:
            assert self._redis_url is not None  # noqa: S101 (join checked it)
            self._subscriber = _Subscriber(self._redis_url, self._received, self._lost)
        return self._subscriber

    async def _received(self, channel: str, payload: bytes) -> None:
        await self._deliver(channel.removeprefix(CHANNEL_PREFIX), json.loads(payload))

    async def _lost(self) -> None:
        """The subscription broke: anything published meanwhile is lost to us, so our
        sockets close (4012) and their clients resync."""
        listeners = [listener for room in self._rooms.values() for listener in room]
        self._rooms.clear()
        self._subscriber = None
        logger.warning("fan-out: closing %s sockets so they resync", len(listeners))
        for listener in listeners:
            try:
                await listener.close(code=CloseCode.LAYER_LOST)
            except Exception:
                logger.exception("fan-out: could not close a socket")


PUBLISHING_CONNECTIONS = 32
"""Redis connections a process publishes on; a publish waits for one that is free."""


def _publisher(url: str) -> Any:
    """A client whose publishes wait for a free connection rather than fail: a storm of
    5,000 connects published hundreds of arrivals at once, and redis-py's default pool
    (100, then MaxConnectionsError) closed meetings' sockets so they would resync.
    Publishes stay concurrent: one connection in turn (batched) held the standard
    evening's messages back by a second (docs/performance.md)."""
    from redis.asyncio import BlockingConnectionPool, Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=PUBLISHING_CONNECTIONS,
        timeout=5,
        socket_timeout=5,
        socket_connect_timeout=2,
        # A pooled connection that Redis dropped (a restart) is retried anew.
        retry=Retry(ExponentialBackoff(cap=0.5), 3),
        retry_on_error=[ConnectionError, OSError],
    )
    return Redis(connection_pool=pool)


def _channel(room_key: str) -> str:
    return f"{CHANNEL_PREFIX}{room_key}"


class _Subscriber:
    """One Redis connection in subscriber mode, spoken to in RESP directly: commands
    are written by any task, pushes are read by one task, in order."""

    def __init__(
        self,
        url: str,
        received: Callable[[str, bytes], Awaitable[None]],
        lost: Callable[[], Awaitable[None]],
    ) -> None:
        self._url = url
        self._received = received
        self._lost = lost
        self._connected: asyncio.Task[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.create_task(self._connect())
        )
        self._reader_task: asyncio.Task[None] | None = None
        self._confirming: dict[str, list[asyncio.Future[None]]] = {}
        self.broken = False

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        parts = urlsplit(self._url)
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname or "127.0.0.1", parts.port or 6379), 5
        )
        if parts.password:
            writer.write(_command("AUTH", parts.password))
            await writer.drain()
            await _read_reply(reader)
        self._reader_task = asyncio.create_task(self._read(reader))
        return reader, writer

    async def subscribe(self, channel: str) -> None:
        """Returns once Redis confirms: whatever is published from then on reaches us
        (the socket reads its snapshot after this)."""
        confirmed = asyncio.get_running_loop().create_future()
        self._confirming.setdefault(channel, []).append(confirmed)
        await self._send("SUBSCRIBE", channel)
        await asyncio.wait_for(confirmed, timeout=5)

    async def unsubscribe(self, channel: str) -> None:
        await self._send("UNSUBSCRIBE", channel)

    async def _send(self, *words: str) -> None:
        try:
            _reader, writer = await self._connected
            writer.write(_command(*words))
            await writer.drain()
        except Exception:
            await self._break()
            raise

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                push = await _read_reply(reader)
                if not isinstance(push, list) or len(push) < 3:
                    continue
                kind, channel = push[0], push[1].decode()
                if kind == b"message":
                    await self._received(channel, push[2])
                elif kind == b"subscribe":
                    for confirmed in self._confirming.pop(channel, []):
                        if not confirmed.done():
                            confirmed.set_result(None)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            logger.warning("fan-out: lost the Redis subscription: %s", type(error).__name__)
            await self._break()

    async def _break(self) -> None:
        if self.broken:
            return
        self.broken = True
        for waiting in self._confirming.values():
            for confirmed in waiting:
                if not confirmed.done():
                    confirmed.set_exception(ConnectionError("subscription lost"))
        self._confirming.clear()
        await self._lost()


def _command(*words: str) -> bytes:
    parts = [f"*{len(words)}\r\n".encode()]
    for word in words:
        data = word.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _read_reply(reader: asyncio.StreamReader) -> Any:
    """One RESP2 value: arrays of bulk strings and integers are all pub/sub sends."""
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"*":
        return [await _read_reply(reader) for _ in range(int(rest))]
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"-":
        raise ConnectionError(rest.decode(errors="replace"))
    return rest


_instances: dict[asyncio.AbstractEventLoop, Fanout] = {}


def fanout(redis_url: str | None) -> Fanout:
    """This event loop's Fanout (tests run several loops in one process)."""
    loop = asyncio.get_running_loop()
    instance = _instances.get(loop)
    if instance is None:
        for old in [old for old in _instances if old.is_closed()]:
            del _instances[old]
        instance = _instances[loop] = Fanout(redis_url)
    return instance
