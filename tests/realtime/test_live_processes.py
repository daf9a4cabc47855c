"""The room across real processes: two daphne servers sharing one Redis behave as one
room; a socket idle for 15 s on the Redis layer still hears the next broadcast; and a
Redis restart loses no persisted event (clients reconnect and resync).

Real daphne processes, a real websocket client (`websockets`), PostgreSQL and Redis.
"""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from groups.models import MeetingStatus
from room.models import MeetingEvent
from tests import factories
from tests.browser.conftest import session_cookie
from tests.support.daphne import DaphneServer
from tests.support.live import database_url_for_tests, redis_url
from tests.support.redis_server import RedisServer

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.live_server_processes,
]


@pytest.fixture
def room(circle, facilitator):
    meeting = factories.make_meeting(circle, status=MeetingStatus.LIVE)
    people = [factories.make_member(circle, alias=f"Person {n}") for n in range(2)]
    users = [facilitator.user, *[m.user for m in people]]
    return meeting, users


def cookie_for(user, url):
    return f"sessionid={session_cookie(user, url)['value']}"


class Peer:
    """A protocol client over a real websocket."""

    def __init__(self, server_url: str, meeting, cookie: str) -> None:
        self.ws_url = server_url.replace("http", "ws") + f"/ws/meetings/{meeting.public_id}/"
        self.origin = server_url
        self.cookie = cookie
        self.last_seq = 0
        self.seen: list[dict] = []

    async def open(self):
        self.ws = await connect(
            self.ws_url, origin=self.origin, additional_headers={"Cookie": self.cookie}
        )
        snapshot = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
        assert snapshot["type"] == "snapshot", snapshot
        if self.last_seq:
            await self.ws.send(json.dumps({"type": "resync", "after": self.last_seq}))
        else:
            self.last_seq = snapshot["seq"]
        return snapshot

    async def next_event(self, type_: str, body: str | None = None, timeout: float = 5) -> dict:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            batch = frame["events"] if frame["type"] == "events" else [frame]
            for event in batch:
                if event.get("seq", 0) > self.last_seq:
                    self.last_seq = event["seq"]
                    self.seen.append(event)
                    if event["type"] == type_ and body in (None, event.get("body")):
                        return event

    async def reconnect(self, attempts: int = 8) -> None:
        """Reconnect with backoff, as the page does; the first tries may meet a server
        whose Redis connections are still being re-established."""
        delay = 0.25
        for attempt in range(attempts):
            try:
                await self.open()
                return
            except (ConnectionClosed, TimeoutError, OSError):
                if attempt == attempts - 1:
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 4)

    async def closed_by_server(self, timeout: float = 10) -> int | None:
        """Wait for the server to close this socket; its close code (None if it didn't)."""
        try:
            while True:
                await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            return None

    async def chat(self, body: str, client_id: str) -> dict:
        await self.ws.send(
            json.dumps({"type": "chat.send", "id": client_id, "body": body, "client_id": client_id})
        )
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if frame.get("ref") == client_id:
                return frame
            if frame.get("seq", 0) > self.last_seq:
                self.last_seq = frame["seq"]
                self.seen.append(frame)


async def test_two_daphne_processes_share_one_room(room):
    meeting, (host, alice, bob) = room
    database = database_url_for_tests()
    with (
        DaphneServer(database_url=database, redis_url=redis_url()) as one,
        DaphneServer(database_url=database, redis_url=redis_url()) as two,
    ):
        a = Peer(one.url, meeting, await sync_to_async(cookie_for)(alice, one.url))
        b = Peer(two.url, meeting, await sync_to_async(cookie_for)(bob, two.url))
        await a.open()
        await b.open()
        reply = await a.chat("hello from process one", "p1-1")
        assert reply["type"] == "ack", reply
        heard = await b.next_event("chat.message")
        assert heard["body"] == "hello from process one"
        assert heard["seq"] == reply["seq"]
        reply = await b.chat("and back from process two", "p2-1")
        heard = await a.next_event("chat.message", "and back from process two")
        assert heard["seq"] == reply["seq"]
        await a.ws.close()
        await b.ws.close()


async def test_idle_socket_on_redis_layer_still_receives(room):
    """channels_redis #422: redis-py's 5 s socket timeout can kill idle consumers."""
    meeting, (host, alice, bob) = room
    with DaphneServer(database_url=database_url_for_tests(), redis_url=redis_url()) as server:
        idle = Peer(server.url, meeting, await sync_to_async(cookie_for)(alice, server.url))
        talker = Peer(server.url, meeting, await sync_to_async(cookie_for)(bob, server.url))
        await idle.open()
        await asyncio.sleep(15)
        await talker.open()
        await talker.chat("are you still there?", "idle-1")
        heard = await idle.next_event("chat.message")
        assert heard["body"] == "are you still there?"
        assert "TimeoutError" not in server.log()
        await idle.ws.close()
        await talker.ws.close()


async def test_redis_restart_loses_no_event(room):
    meeting, (host, alice, bob) = room
    with RedisServer() as redis:
        with DaphneServer(database_url=database_url_for_tests(), redis_url=redis.url) as server:
            a = Peer(server.url, meeting, await sync_to_async(cookie_for)(alice, server.url))
            b = Peer(server.url, meeting, await sync_to_async(cookie_for)(bob, server.url))
            await a.open()
            await b.open()
            await a.chat("before the restart", "r-1")
            await b.next_event("chat.message")

            redis.restart()
            # Each socket closes: 1011 when its consumer loses its Redis connection, 4012
            # when the layer watch finds that Redis forgot the groups. A client
            # reconnects and resyncs from the last seq it saw, as the page does.
            for peer in (a, b):
                assert await peer.closed_by_server() in (1011, 4012)
                await peer.reconnect()
            reply = await a.chat("after the restart", "r-2")
            assert reply["type"] == "ack", reply
            await b.next_event("chat.message")
            stored = await sync_to_async(
                lambda: list(
                    MeetingEvent.objects.filter(meeting=meeting, type="chat.message")
                    .order_by("seq")
                    .values_list("payload__body", flat=True)
                )
            )()
            assert stored == ["before the restart", "after the restart"]
            bodies = [e["body"] for e in b.seen if e["type"] == "chat.message"]
            assert bodies == ["before the restart", "after the restart"]
            await a.ws.close()
            await b.ws.close()


async def test_a_socket_lost_with_redis_still_releases_its_presence(room):
    """Redis going away ends the consumer with an exception, not a disconnect; before,
    the person stayed counted as present for good (found by `make bench`'s reconnect
    scenario). Now the seat is released however the consumer ends."""
    meeting, (host, alice, bob) = room
    from room.models import Connection

    def connections() -> dict[int, int]:
        rows = Connection.objects.filter(meeting=meeting, membership__user_id=alice.pk)
        return {alice.pk: rows.count()}

    with RedisServer() as redis:
        with DaphneServer(database_url=database_url_for_tests(), redis_url=redis.url) as server:
            a = Peer(server.url, meeting, await sync_to_async(cookie_for)(alice, server.url))
            await a.open()
            assert (await sync_to_async(connections)())[alice.pk] == 1
            redis.stop()
            assert await a.closed_by_server() == 1011
            for _ in range(100):  # up to 10 s
                if (await sync_to_async(connections)())[alice.pk] == 0:
                    break
                await asyncio.sleep(0.1)
            assert (await sync_to_async(connections)())[alice.pk] == 0, server.log()


async def test_sockets_close_when_redis_forgets_the_groups(room):
    """A Redis that restarts quickly, fails over or is flushed forgets every group while
    the consumers' connections survive: without the layer watch those sockets stay open
    and hear nothing more (`make bench`: 1,034 of 1,100). They close with 4012 instead,
    and the clients reconnect, resync and miss nothing."""
    import redis as redis_py

    meeting, (host, alice, bob) = room
    with RedisServer() as redis:
        watch = {"HEARTH_LAYER_WATCH_SECONDS": "0.2"}
        with DaphneServer(
            database_url=database_url_for_tests(), redis_url=redis.url, env=watch
        ) as server:
            a = Peer(server.url, meeting, await sync_to_async(cookie_for)(alice, server.url))
            b = Peer(server.url, meeting, await sync_to_async(cookie_for)(bob, server.url))
            await a.open()
            await b.open()
            await a.chat("before the flush", "f-1")
            await b.next_event("chat.message")

            redis_py.Redis.from_url(redis.url).flushall()
            for peer in (a, b):
                assert await peer.closed_by_server(timeout=5) == 4012, server.log()
                await peer.reconnect()
            reply = await a.chat("after the flush", "f-2")
            assert reply["type"] == "ack", reply
            await b.next_event("chat.message", "after the flush")
            bodies = [e["body"] for e in b.seen if e["type"] == "chat.message"]
            assert bodies == ["before the flush", "after the flush"]
            await a.ws.close()
            await b.ws.close()
