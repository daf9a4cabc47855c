"""The load generator: many websocket clients in one asyncio process (uvloop).

Every client is a person in a room: it connects to `/ws/meetings/<id>/` with an Origin
and (for Hearth) a session cookie, waits for its `snapshot`, then listens. Members send
`chat.send` on a fixed schedule; every client, the sender included, records when each
`chat.message` reaches it. Times are taken from the *scheduled* send time, so a
generator that falls behind shows up as latency instead of hiding it (no coordinated
omission), and the generator's own lag is reported beside it.

Counting, per step:
- expected deliveries of a send = the clients of its room connected when it was sent;
- lost = expected deliveries of sends that were not refused, still missing when the
  step ended (after a bounded drain);
- duplicated = a client receiving the same message twice;
- stale = deliveries of an earlier step's messages (a server still catching up).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

CONNECT_CONCURRENCY = 64
"""Handshakes in flight at once: more would overflow daphne's listen backlog and turn
into SYN retries (a second each), which measures the kernel, not the server."""

POLL = 0.05
RECONNECT_BASE_S = 0.5
RECONNECT_CAP_S = 15.0
RECONNECT_ATTEMPTS = 20


def percentile(sorted_values: list[float], pct: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


@dataclass(frozen=True)
class ClientSpec:
    room: int
    path: str
    session: str | None
    sends: bool


@dataclass
class Send:
    __slots__ = ("t", "room", "expected", "delivered", "acked_at", "refused")
    t: float
    room: int
    expected: int
    delivered: int
    acked_at: float | None
    refused: str | None


@dataclass
class Step:
    """What happened in one step of a scenario."""

    name: str
    rate_per_room: float
    duration: float
    sends: dict[str, Send] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    ack_latencies: list[float] = field(default_factory=list)
    generator_lag: list[float] = field(default_factory=list)
    duplicated: int = 0
    stale: int = 0
    dropped: int = 0
    started: float = 0.0
    sending_ended: float = 0.0
    ended: float = 0.0

    def summary(self, clients: int) -> dict[str, Any]:
        sends = self.sends.values()
        refused = Counter(s.refused for s in sends if s.refused)
        acked = sum(1 for s in sends if s.acked_at is not None)
        unanswered = sum(1 for s in sends if s.acked_at is None and not s.refused)
        delivered = sum(s.delivered for s in sends)
        lost = sum(max(0, s.expected - s.delivered) for s in sends if not s.refused)
        latencies = sorted(self.latencies)
        acks = sorted(self.ack_latencies)
        lag = sorted(self.generator_lag)
        window = max(self.sending_ended - self.started, 1e-6)
        return {
            "step": self.name,
            "rate_per_room": self.rate_per_room,
            "duration_s": self.duration,
            "clients": clients,
            "sent": len(self.sends),
            "acked": acked,
            "refused": sum(refused.values()),
            "refused_by_code": dict(refused),
            "unanswered": unanswered,
            "expected": sum(s.expected for s in sends if not s.refused),
            "delivered": delivered,
            "lost": lost,
            "duplicated": self.duplicated,
            "stale": self.stale,
            "dropped_connections": self.dropped,
            "deliveries_per_s": round(delivered / window, 1),
            "p50_ms": _ms(percentile(latencies, 50)),
            "p95_ms": _ms(percentile(latencies, 95)),
            "p99_ms": _ms(percentile(latencies, 99)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "ack_p50_ms": _ms(percentile(acks, 50)),
            "ack_p99_ms": _ms(percentile(acks, 99)),
            "generator_lag_p99_ms": _ms(percentile(lag, 99)),
            "drain_s": round(self.ended - self.sending_ended, 2),
        }


class Client:
    def __init__(self, gen: LoadGen, spec: ClientSpec) -> None:
        self.gen = gen
        self.spec = spec
        self.ws: ClientConnection | None = None
        self.ready = asyncio.Event()
        self.seen: set[str] = set()
        self.seqs: set[int] = set()
        self.live_seqs: set[int] = set()
        self.doubled = 0
        self.overlap = 0
        self.reconnects = 0
        self.last_back: float | None = None
        self.reader: asyncio.Task | None = None

    @property
    def connected(self) -> bool:
        return self.ready.is_set()

    async def open(self, timeout: float) -> str | None:
        """Connect and wait for the snapshot; None when in, else why not."""
        gen = self.gen
        headers = [("Cookie", f"sessionid={self.spec.session}")] if self.spec.session else []
        try:
            self.ws = await connect(
                gen.base_url + self.spec.path,
                origin=gen.origin,  # type: ignore[arg-type]
                additional_headers=headers,
                compression=None,  # browsers offer deflate, daphne declines: none either way
                ping_interval=None,
                open_timeout=timeout,
                close_timeout=2,
                max_size=4 * 2**20,
            )
        except InvalidStatus as refused:
            return f"http {refused.response.status_code}"
        except (OSError, TimeoutError, WebSocketException) as error:
            return type(error).__name__
        self.ready.clear()
        self.reader = asyncio.create_task(self._read())
        snapshot = asyncio.create_task(self.ready.wait())
        await asyncio.wait({snapshot, self.reader}, timeout=timeout, return_when="FIRST_COMPLETED")
        snapshot.cancel()
        if self.ready.is_set():
            return None
        if self.reader.done():
            return f"close {self.ws.close_code}"
        return "no snapshot"

    async def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        on_frame = self.gen.on_frame
        try:
            async for text in ws:
                on_frame(self, text, time.perf_counter())
        except ConnectionClosed:
            pass
        finally:
            if self.ready.is_set():
                self.ready.clear()
                self.gen.on_dropped(self)

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            self.reader.cancel()


class LoadGen:
    """A room full of clients, driven step by step."""

    def __init__(
        self,
        *,
        base_url: str,
        origin: str,
        specs: list[ClientSpec],
        track_seq: bool,
        reconnect: bool = False,
    ) -> None:
        self.base_url = base_url
        self.origin = origin
        self.clients = [Client(self, spec) for spec in specs]
        self.rooms = max((s.room for s in specs), default=-1) + 1
        self.track_seq = track_seq
        self.reconnect = reconnect
        self.step: Step | None = None
        self.acked_seqs: dict[int, set[int]] = {}
        self.last_delivery = 0.0
        self._pending: set[asyncio.Task] = set()
        self._by_room: list[list[Client]] = [[] for _ in range(self.rooms)]
        for client in self.clients:
            self._by_room[client.spec.room].append(client)

    # Connecting ---------------------------------------------------------------------

    async def connect_all(self, *, timeout: float) -> dict[str, Any]:
        """Connect everyone (bounded in time); report how many got in and how fast."""
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        times: list[float] = []
        failures: Counter[str] = Counter()
        began = time.perf_counter()
        deadline = began + timeout

        async def one(client: Client) -> None:
            async with gate:
                left = deadline - time.perf_counter()
                if left <= 0:
                    failures["connect phase timed out"] += 1
                    return
                t0 = time.perf_counter()
                why = await client.open(min(left, 60.0))
                if why is None:
                    times.append(time.perf_counter() - t0)
                else:
                    failures[why] += 1
                    await client.close()

        await asyncio.gather(*(one(c) for c in self.clients))
        times.sort()
        return {
            "clients": len(self.clients),
            "connected": len(times),
            "failed": dict(failures),
            "connect_s": round(time.perf_counter() - began, 2),
            "handshake_p50_ms": _ms(percentile(times, 50)),
            "handshake_p99_ms": _ms(percentile(times, 99)),
        }

    async def close_all(self, timeout: float = 15.0) -> None:
        self.reconnect = False
        tasks = [asyncio.create_task(c.close()) for c in self.clients]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    @property
    def connected(self) -> int:
        return sum(1 for c in self.clients if c.connected)

    # Frames -------------------------------------------------------------------------

    def on_frame(self, client: Client, text: str | bytes, now: float) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        step = self.step
        if kind == "chat.message":
            self.last_delivery = now
            if self.track_seq:
                self._note_seq(client, frame.get("seq"), live=True)
            if step is None:
                return
            cid = frame.get("client_id")
            send = step.sends.get(cid)
            if send is None:
                step.stale += 1
            elif cid in client.seen:
                step.duplicated += 1
            else:
                client.seen.add(cid)
                send.delivered += 1
                step.latencies.append(now - send.t)
        elif kind == "ack" or kind == "error":
            send = step.sends.get(frame.get("ref")) if step else None
            if send is not None:
                if kind == "ack":
                    send.acked_at = now
                    step.ack_latencies.append(now - send.t)  # type: ignore[union-attr]
                    if self.track_seq and frame.get("seq") is not None:
                        self.acked_seqs.setdefault(send.room, set()).add(frame["seq"])
                else:
                    send.refused = frame.get("code") or "error"
        elif kind == "snapshot":
            if self.track_seq and client.seqs:
                # Back after a drop: ask for everything after the last event it holds.
                after = max(client.seqs)
                self._spawn(client.ws.send(json.dumps({"type": "resync", "after": after})))  # type: ignore[union-attr]
            client.last_back = now
            client.ready.set()
        elif kind == "events" and self.track_seq:
            for event in frame.get("events", ()):
                if event.get("type") == "chat.message":
                    self._note_seq(client, event.get("seq"), live=False)

    def _note_seq(self, client: Client, seq: int | None, *, live: bool) -> None:
        """A seq heard twice live is a doubled broadcast; one heard live and again in a
        resync reply is the overlap the protocol expects a client to drop by seq."""
        if seq is None:
            return
        if live and seq in client.live_seqs:
            client.doubled += 1
        elif seq in client.seqs:
            client.overlap += 1
        client.seqs.add(seq)
        if live:
            client.live_seqs.add(seq)

    def on_dropped(self, client: Client) -> None:
        if self.step is not None:
            self.step.dropped += 1
        if self.reconnect:
            self._spawn(self._come_back(client))

    async def _come_back(self, client: Client) -> None:
        """Reconnect as the room page does (static/room/socket.js): 0.5 s doubling to a
        15 s cap, with equal jitter so a room dropped together doesn't return in a burst."""
        for attempt in range(1, RECONNECT_ATTEMPTS + 1):
            if not self.reconnect:
                return
            base = min(RECONNECT_CAP_S, RECONNECT_BASE_S * 2 ** (attempt - 1))
            await asyncio.sleep(base / 2 + random.random() * base / 2)
            if await client.open(30.0) is None:
                client.reconnects += 1
                return
            await client.close()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    # Steps --------------------------------------------------------------------------

    async def settle(self, *, quiet: float = 1.0, timeout: float = 20.0) -> float:
        """Wait until no chat has arrived for `quiet` seconds (a server catching up on
        an earlier step must not count against the next). Returns the seconds waited."""
        began = time.perf_counter()
        while time.perf_counter() - began < timeout:
            if time.perf_counter() - self.last_delivery >= quiet:
                break
            await asyncio.sleep(POLL)
        return round(time.perf_counter() - began, 2)

    async def run_step(
        self,
        *,
        name: str,
        rate_per_room: float,
        duration: float,
        drain: float,
        during: tuple[float, Callable[[], Awaitable[Any]]] | None = None,
    ) -> Step:
        """Send `rate_per_room` chat messages a second in every room for `duration`
        seconds, spread evenly over rooms and time and round-robin over members; then
        wait up to `drain` seconds for what is still on its way."""
        step = Step(name=name, rate_per_room=rate_per_room, duration=duration)
        for client in self.clients:
            client.seen.clear()
        self.step = step
        if during is not None:
            offset, action = during
            self._spawn(self._after(offset, action))
        await self._send_on_schedule(step, total_rate=rate_per_room * self.rooms)
        step.sending_ended = time.perf_counter()
        deadline = step.sending_ended + drain
        while time.perf_counter() < deadline and not self._complete(step):
            await asyncio.sleep(POLL)
        step.ended = time.perf_counter()
        self.step = None
        return step

    async def _send_on_schedule(self, step: Step, *, total_rate: float) -> None:
        """Send number k at t0 + k / total_rate: rooms in turn, members round-robin."""
        senders = [[c for c in room if c.spec.sends] for room in self._by_room]
        count = int(total_rate * step.duration)
        body = f"Checking in from the benchmark ({step.name})."
        step.started = t0 = time.perf_counter() + 0.05
        k = 0
        while k < count:
            now = time.perf_counter()
            due = min(count, int((now - t0) * total_rate) + 1)
            while k < due:
                room = k % self.rooms
                pool = senders[room]
                sender = pool[(k // self.rooms) % len(pool)] if pool else None
                if sender is not None and sender.connected:
                    self._send_one(step, sender, f"{step.name}.{k}", t0 + k / total_rate, body)
                k += 1
            await asyncio.sleep(max(t0 + k / total_rate - time.perf_counter(), 0))

    def _send_one(self, step: Step, sender: Client, cid: str, scheduled: float, body: str) -> None:
        room = sender.spec.room
        step.sends[cid] = Send(
            t=scheduled,
            room=room,
            expected=sum(1 for c in self._by_room[room] if c.connected),
            delivered=0,
            acked_at=None,
            refused=None,
        )
        step.generator_lag.append(time.perf_counter() - scheduled)
        text = json.dumps({"type": "chat.send", "id": cid, "client_id": cid, "body": body})
        self._spawn(self._send(sender, text, cid))

    async def _send(self, client: Client, text: str, cid: str) -> None:
        try:
            await client.ws.send(text)  # type: ignore[union-attr]
        except ConnectionClosed:
            if self.step is not None and cid in self.step.sends:
                self.step.sends[cid].refused = "connection closed"

    @staticmethod
    def _complete(step: Step) -> bool:
        return all(
            s.refused or (s.acked_at is not None and s.delivered >= s.expected)
            for s in step.sends.values()
        )

    async def _after(self, offset: float, action: Callable[[], Awaitable[Any]]) -> None:
        await asyncio.sleep(offset)
        await action()

    # After a fault -------------------------------------------------------------------

    def seq_audit(self) -> dict[str, int]:
        """For each room's acknowledged chat seqs: how many a client that is back never
        got (lost), how many it heard twice live (doubled), and how many it heard live
        and again in a resync reply (overlap, dropped by seq as the protocol says).
        Clients still away are counted apart by the caller: they resync when back."""
        lost = doubled = overlap = 0
        for client in self.clients:
            if not client.connected:
                continue
            doubled += client.doubled
            overlap += client.overlap
            expected = self.acked_seqs.get(client.spec.room, set())
            lost += len(expected - client.seqs)
        return {"seq_lost": lost, "seq_doubled": doubled, "seq_overlap_dropped": overlap}
