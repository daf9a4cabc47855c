"""The room across real processes: two daphne servers sharing one Redis behave as one
room; a socket idle for 15 s on the Redis layer still hears the next broadcast; a
Redis restart loses no persisted event (clients reconnect and resync); and presence
stays true: a process killed with -9 has its people let go by the other (and its
speaker's turn skipped), and after a Redis restart the rows are the open sockets.

Real daphne processes, a real websocket client (`websockets`), PostgreSQL and Redis.
"""

import asyncio
import json
import time

import pytest
from asgiref.sync import sync_to_async
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from groups.models import MeetingStatus, Membership
from room.models import Connection, MeetingEvent, ServerProcess
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
            # Whichever notices first closes it: the fan-out's broken subscription
            # (4012, reconnect) or the channel layer's exception in the consumer (1011).
            # Before, the 1011 left him counted as present for good.
            assert await a.closed_by_server() in (1011, 4012)
            for _ in range(100):  # up to 10 s
                if (await sync_to_async(connections)())[alice.pk] == 0:
                    break
                await asyncio.sleep(0.1)
            assert (await sync_to_async(connections)())[alice.pk] == 0, server.log()


async def test_a_flushed_redis_loses_nothing(room):
    """Redis holds no state of the room, only its pub/sub: a Redis that is flushed
    (or fails over to an empty replica) changes nothing. Before the fan-out, the sockets'
    channel-layer groups were forgotten and the sockets went deaf (`make bench`: 1,034 of
    1,100); now they keep hearing, without even a reconnect."""
    import redis as redis_py

    meeting, (host, alice, bob) = room
    with (
        RedisServer() as redis,
        DaphneServer(database_url=database_url_for_tests(), redis_url=redis.url) as server,
    ):
        a = Peer(server.url, meeting, await sync_to_async(cookie_for)(alice, server.url))
        b = Peer(server.url, meeting, await sync_to_async(cookie_for)(bob, server.url))
        await a.open()
        await b.open()
        await a.chat("before the flush", "f-1")
        await b.next_event("chat.message")

        redis_py.Redis.from_url(redis.url).flushall()
        reply = await a.chat("after the flush", "f-2")
        assert reply["type"] == "ack", reply
        await b.next_event("chat.message", "after the flush")
        bodies = [e["body"] for e in b.seen if e["type"] == "chat.message"]
        assert bodies == ["before the flush", "after the flush"]
        assert a.ws.close_code is None and b.ws.close_code is None, server.log()
        await a.ws.close()
        await b.ws.close()


# Presence that tells the truth across processes ------------------------------------------
# The deadline: nobody is shown present who has no open socket, within 30 s.

PRESENCE_DEADLINE = 30.0
LEASE = 2.0
"""Each process's presence lease here (and the grace period): short, so a dead process
is noticed in seconds; production's is 5 s."""
SHORT_LEASE = {
    "HEARTH_PRESENCE_GRACE_SECONDS": str(LEASE),
    "HEARTH_PRESENCE_LEASE_SECONDS": str(LEASE),
}


def membership_of(meeting, user) -> Membership:
    return Membership.objects.get(circle_id=meeting.circle_id, user=user)


def connection_rows(meeting) -> list[tuple[int, str]]:
    """(membership, process) of every Connection row of the meeting."""
    rows = Connection.objects.filter(meeting=meeting)
    return sorted(rows.values_list("membership_id", "process_id"))


async def rows_become(meeting, expected, deadline: float) -> float:
    """Seconds until connection_rows(meeting) == expected; fails at the deadline."""
    began = time.monotonic()
    while True:
        rows = await sync_to_async(connection_rows)(meeting)
        elapsed = time.monotonic() - began
        if rows == expected:
            return elapsed
        assert elapsed < deadline, f"after {elapsed:.1f} s the rows are {rows}, not {expected}"
        await asyncio.sleep(0.1)


async def watch(peer: Peer, wanted, deadline: float) -> tuple[dict[str, float], list[dict]]:
    """Read the peer's frames until each of `wanted` (name -> predicate) has matched one;
    returns when each matched (seconds from now) and every frame read."""
    began = time.monotonic()
    seen: dict[str, float] = {}
    frames: list[dict] = []
    while len(seen) < len(wanted):
        left = deadline - (time.monotonic() - began)
        assert left > 0, f"not within {deadline} s: {set(wanted) - set(seen)}; read {frames}"
        try:
            frame = json.loads(await asyncio.wait_for(peer.ws.recv(), left))
        except TimeoutError:
            continue
        frames.append(frame)
        for name, matches in wanted.items():
            if name not in seen and matches(frame):
                seen[name] = time.monotonic() - began
    return seen, frames


async def test_a_killed_process_lets_its_people_go(room):
    """kill -9 of one of two processes: the other sweeps its lapsed lease. Within the
    deadline the rows are the sockets still open, the people left on the living process
    hear `presence.left` for whoever had no socket elsewhere (not for someone who
    still has one), and the speaker who was on the dead process has his turn skipped
    within a lease and a sweep."""
    meeting, (host, alice, bob) = room
    host_m, alice_m, bob_m = [
        await sync_to_async(membership_of)(meeting, user) for user in (host, alice, bob)
    ]
    database = database_url_for_tests()
    with (
        DaphneServer(database_url=database, redis_url=redis_url(), env=SHORT_LEASE) as one,
        DaphneServer(database_url=database, redis_url=redis_url(), env=SHORT_LEASE) as two,
    ):

        async def peer(user, server) -> Peer:
            opened = Peer(server.url, meeting, await sync_to_async(cookie_for)(user, server.url))
            await opened.open()
            return opened

        alice_one = await peer(alice, one)  # first in: first to speak in seating order
        host_two = await peer(host, two)
        bob_one = await peer(bob, one)
        bob_two = await peer(bob, two)  # Bob has a socket on each process
        rows = await sync_to_async(connection_rows)(meeting)
        assert len(rows) == 4 and len({process for _, process in rows}) == 2, rows
        doomed = dict(rows)[alice_m.pk]
        living = next(process for who, process in rows if who == host_m.pk)
        assert doomed != living

        await host_two.ws.send(
            json.dumps({"type": "round.start", "id": "r1", "kind": "check_in", "order": "seating"})
        )
        _, frames = await watch(
            host_two,
            {
                "ack": lambda f: f["type"] == "ack" and f["ref"] == "r1",
                "started": lambda f: f["type"] == "round.started",
            },
            10,
        )
        started = next(f for f in frames if f["type"] == "round.started")
        assert started["round"]["current"]["membership_id"] == alice_m.pk
        await watch(bob_two, {"started": lambda f: f["type"] == "round.started"}, 10)

        one.proc.kill()  # SIGKILL: no disconnect, no goodbye, nothing swept by itself
        one.proc.wait(5)

        def alice_left(frame: dict) -> bool:
            return frame["type"] == "presence.left" and frame["membership_id"] == alice_m.pk

        def skipped(frame: dict) -> bool:
            return (
                frame["type"] == "turn.ended"
                and frame["membership_id"] == alice_m.pk
                and frame["outcome"] == "skipped"
            )

        (host_saw, host_frames), (bob_saw, bob_frames), rows_after = await asyncio.gather(
            watch(host_two, {"left": alice_left, "skipped": skipped}, PRESENCE_DEADLINE),
            watch(bob_two, {"left": alice_left, "skipped": skipped}, PRESENCE_DEADLINE),
            rows_become(
                meeting, sorted([(host_m.pk, living), (bob_m.pk, living)]), PRESENCE_DEADLINE
            ),
        )
        print(
            f"after kill -9: rows right in {rows_after:.2f} s; presence.left heard in "
            f"{host_saw['left']:.2f} s (host) / {bob_saw['left']:.2f} s (Bob); "
            f"turn skipped in {host_saw['skipped']:.2f} s; lease {LEASE} s"
        )
        # The dead process's lease ran out at most LEASE after the kill; the living one
        # sweeps every LEASE / 3. Two seconds spare for the database and the broadcast.
        assert host_saw["skipped"] < LEASE + LEASE / 3 + 2, host_saw
        # Nobody who still has a socket is announced as gone.
        for frame in host_frames + bob_frames:
            assert not (frame["type"] == "presence.left" and frame["membership_id"] != alice_m.pk)
        assert not await sync_to_async(ServerProcess.objects.filter(pk=doomed).exists)()
        # The living process's sockets still work.
        assert (await host_two.chat("still here", "k-1"))["type"] == "ack"
        await bob_two.next_event("chat.message", "still here")
        for client in (alice_one, bob_one, host_two, bob_two):
            await client.ws.close()


async def test_presence_matches_open_sockets_after_a_redis_restart(room):
    """Redis restarts: every socket closes (1011 or 4012). Alice reopens one of her two
    tabs, the host reopens his, Bob doesn't come back: within the deadline the rows are
    exactly the open sockets, and a new snapshot shows exactly those people present."""
    meeting, (host, alice, bob) = room
    host_m, alice_m, bob_m = [
        await sync_to_async(membership_of)(meeting, user) for user in (host, alice, bob)
    ]
    with RedisServer() as redis:
        with DaphneServer(
            database_url=database_url_for_tests(), redis_url=redis.url, env=SHORT_LEASE
        ) as server:
            cookies = {
                u.pk: await sync_to_async(cookie_for)(u, server.url) for u in (host, alice, bob)
            }
            host_p = Peer(server.url, meeting, cookies[host.pk])
            phone = Peer(server.url, meeting, cookies[alice.pk])
            laptop = Peer(server.url, meeting, cookies[alice.pk])
            bob_p = Peer(server.url, meeting, cookies[bob.pk])
            for peer in (host_p, phone, laptop, bob_p):
                await peer.open()
            rows = await sync_to_async(connection_rows)(meeting)
            assert len(rows) == 4 and len({process for _, process in rows}) == 1, rows
            process = rows[0][1]

            redis.restart()
            began = time.monotonic()
            for peer in (host_p, phone, laptop, bob_p):
                assert await peer.closed_by_server() in (1011, 4012), server.log()
            for peer in (host_p, phone):
                await peer.reconnect()
            await rows_become(
                meeting,
                sorted([(host_m.pk, process), (alice_m.pk, process)]),
                PRESENCE_DEADLINE - (time.monotonic() - began),
            )
            elapsed = time.monotonic() - began
            print(f"after the Redis restart: rows equal the open sockets in {elapsed:.2f} s")
            assert elapsed < PRESENCE_DEADLINE
            fresh = Peer(server.url, meeting, cookies[host.pk])
            snapshot = await fresh.open()
            assert snapshot["present"] == sorted([host_m.pk, alice_m.pk]), snapshot["present"]
            assert bob_m.pk not in snapshot["present"]
            for peer in (host_p, phone, fresh):
                await peer.ws.close()
