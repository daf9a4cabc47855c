"""The harness: for each target, start its servers, connect the clients, run the
scenarios as steps, measure each step, stop everything.

Every wait is bounded (connect phase, each step, its drain, the settle between steps)
and every loop has a fixed number of steps, so a server that falls over makes a slow
report, never a hung one.
"""

from __future__ import annotations

import asyncio
import os
import platform
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench import profile
from bench.loadgen import LoadGen, Step
from bench.procstat import CpuMeter
from bench.servers import ORIGIN, Backing, Target, make_target, new_workdir

P99_GOAL_MS = 50.0
"""A step holds when p99 send->receipt is at most this, nothing is lost or refused and
no connection dropped."""

SATURATION_RATES = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 48.0)
"""Chat messages a second per room, in the order saturation tries them."""

GENERATOR_LAG_MS = 5.0
"""Past this p99 lag between a send's scheduled time and its actual send, the load
generator (sharing the cores) is part of what a failed step measured."""

CHAT_LIMIT_MARGIN = 0.9
"""Hearth's saturation stays under 90 % of the per-member chat limit: evenly spaced
sends exactly at the limit would be refused by clock jitter alone."""


@dataclass
class Options:
    targets: list[str]
    scenarios: list[str]
    rooms: int = 100
    members: int = 10
    standard_rate: float = 1.0
    standard_seconds: float = 30.0
    light_rate: float = 0.1
    light_seconds: float = 15.0
    step_seconds: float = 5.0
    drain_seconds: float = 10.0
    connect_timeout: float = 120.0
    idle_counts: list[int] = field(default_factory=lambda: [1000, 5000])
    idle_seconds: float = 10.0
    reconnect_seconds: float = 30.0
    server_env: dict[str, str] = field(default_factory=dict)
    profile: bool = False
    settle_quiet: float = 0.5


def holds(summary: dict[str, Any]) -> bool:
    return (
        summary["p99_ms"] is not None
        and summary["p99_ms"] <= P99_GOAL_MS
        and summary["lost"] == 0
        and summary["refused"] == 0
        and summary["unanswered"] == 0
        and summary["dropped_connections"] == 0
    )


def why_not_held(summary: dict[str, Any]) -> str:
    reasons = []
    if summary["p99_ms"] is None or summary["p99_ms"] > P99_GOAL_MS:
        reasons.append(f"p99 {summary['p99_ms']} ms")
    for key in ("lost", "refused", "unanswered", "dropped_connections"):
        if summary[key]:
            reasons.append(f"{summary[key]} {key.replace('_', ' ')}")
    return ", ".join(reasons) or "held"


class TargetRun:
    """One target's servers and clients, measured step by step."""

    def __init__(self, target: Target, options: Options) -> None:
        self.target = target
        self.options = options
        self.gen: LoadGen | None = None
        self.connect: dict[str, Any] = {}
        self.rss_kib_per_conn: float | None = None

    async def open(self, *, track_seq: bool = False) -> None:
        target = self.target
        self.gen = LoadGen(
            base_url=target.base_url, origin=ORIGIN, specs=target.specs(), track_seq=track_seq
        )
        before = target.server_rss_kib()
        self.connect = await self.gen.connect_all(timeout=self.options.connect_timeout)
        await asyncio.sleep(1.0)  # joins announced, presence settled
        connected = max(self.gen.connected, 1)
        self.rss_kib_per_conn = round((target.server_rss_kib() - before) / connected, 1)

    def _profiler(self, scenario: str, seconds: float):
        """py-spy on Hearth's first web process for the standard step (--profile)."""
        if not (self.options.profile and scenario == "standard" and self.target.counter):
            return None
        out = self.target.workdir / f"profile-{self.target.name}.txt"
        return profile.start(self.target.processes[0].pid, seconds=seconds, out=out), out

    @staticmethod
    def _profile_result(spy, seconds: float) -> dict[str, Any]:
        proc, out = spy
        proc.wait(timeout=seconds + 60)
        return profile.summarise(out, seconds=seconds)

    def chat_cap(self) -> float | None:
        """Hearth's highest rate per room inside its chat limit; None for the floors."""
        roster = getattr(self.target, "roster", None)
        if not roster:
            return None
        return roster["chat_rate_per_member"] * self.options.members * CHAT_LIMIT_MARGIN

    async def close(self) -> None:
        if self.gen is not None:
            await self.gen.close_all()

    async def step(self, *, scenario: str, name: str, rate: float, seconds: float, during=None):
        gen = self.gen
        assert gen is not None
        settled = await gen.settle(quiet=self.options.settle_quiet, timeout=15.0)
        load = os.getloadavg()
        meter = CpuMeter(self.target.watched())
        counter = self.target.counter
        if counter is not None:
            await asyncio.to_thread(counter.reset)
        spy = self._profiler(scenario, seconds)
        meter.start()
        step: Step = await gen.run_step(
            name=name,
            rate_per_room=rate,
            duration=seconds,
            drain=self.options.drain_seconds,
            during=during,
        )
        cpu = meter.read()
        summary = step.summary(clients=gen.connected)
        if spy is not None:
            summary["profile"] = await asyncio.to_thread(self._profile_result, spy, seconds)
        statements = await asyncio.to_thread(counter.read) if counter is not None else None
        if counter is not None and scenario == "standard":
            summary["statements"] = await asyncio.to_thread(counter.top, max(summary["acked"], 1))
        acked = max(summary["acked"], 1)
        servers = {p.label: cpu[p.label] for p in self.target.processes}
        summary.update(
            scenario=scenario,
            rooms=gen.rooms,
            load_before=[round(x, 2) for x in load],
            settle_s=settled,
            server_cpu_pct=servers,
            server_cpu_total_pct=round(sum(servers.values()), 1),
            db_cpu_pct=cpu.get("postgres"),
            redis_cpu_pct=cpu.get("redis"),
            proxy_cpu_pct=cpu.get("nginx"),
            queries_per_send=round(statements[1] / acked, 2) if statements else None,
            statements_per_send_all=(round(statements[0] / acked, 2) if statements else None),
            rss_kib_per_conn=self.rss_kib_per_conn,
            held=holds(summary),
        )
        return summary


async def run_load_scenarios(run: TargetRun, options: Options) -> list[dict[str, Any]]:
    """light, standard and saturation on one set of connected clients."""
    results: list[dict[str, Any]] = []
    connect = {**run.connect, "rss_kib_per_conn": run.rss_kib_per_conn}
    standard = None
    if "light" in options.scenarios:
        light = await run.step(
            scenario="light", name="light", rate=options.light_rate, seconds=options.light_seconds
        )
        results.append({**light, "connect": connect})
    if "standard" in options.scenarios or "saturation" in options.scenarios:
        standard = await run.step(
            scenario="standard",
            name="standard",
            rate=options.standard_rate,
            seconds=options.standard_seconds,
        )
        if "standard" in options.scenarios:
            results.append({**standard, "connect": connect})
    if "saturation" in options.scenarios:
        results.append(await saturation(run, options, standard))
    return results


async def saturation(
    run: TargetRun, options: Options, standard: dict[str, Any] | None
) -> dict[str, Any]:
    """Raise the rate step by step until a step fails to hold; report the last held."""
    cap = run.chat_cap()
    held = standard if standard is not None and standard["held"] else None
    start = options.standard_rate if held else 0.0
    steps: list[dict[str, Any]] = []
    stopped = "every step held"
    for rate in (r for r in SATURATION_RATES if r > start):
        if cap is not None and rate > cap:
            stopped = f"reached the chat rate limit ({cap:.2f} messages/s per room)"
            break
        summary = await run.step(
            scenario="saturation", name=f"sat-{rate:g}", rate=rate, seconds=options.step_seconds
        )
        steps.append(summary)
        if not summary["held"]:
            stopped = f"{rate:g}/s per room did not hold: {why_not_held(summary)}"
            lag = summary["generator_lag_p99_ms"] or 0.0
            if lag > GENERATOR_LAG_MS:
                stopped += (
                    f"; the load generator itself lagged (p99 {lag:g} ms), so the server "
                    "may hold more than this"
                )
            break
        held = summary
    base = {k: v for k, v in (held or (steps[0] if steps else standard) or {}).items()}
    base.pop("profile", None)
    base.pop("statements", None)
    return {
        **base,
        "scenario": "saturation",
        "held": held is not None,
        "held_rate_per_room": held["rate_per_room"] if held else None,
        "deliveries_per_s": held["deliveries_per_s"] if held else 0.0,
        "stopped": stopped,
        "steps": ([standard] if standard is not None else []) + steps,
    }


async def idle(run_target: Target, options: Options, backing: Backing) -> list[dict[str, Any]]:
    """Memory per idle connection at each count, and whether every socket stayed up."""
    results = []
    for count in options.idle_counts:
        rooms = max(1, round(count / (options.members + 1)))
        target = make_target(run_target.name)
        await asyncio.to_thread(
            target.start, backing, rooms=rooms, members=options.members, env=options.server_env
        )
        run = TargetRun(target, options)
        try:
            await run.open()
            await asyncio.sleep(options.idle_seconds)
            assert run.gen is not None
            results.append(
                {
                    "scenario": "idle",
                    "clients": len(run.gen.clients),
                    "rooms": rooms,
                    "connected": run.connect["connected"],
                    "still_connected": run.gen.connected,
                    "connect": run.connect,
                    "rss_kib_per_conn": run.rss_kib_per_conn,
                    "server_rss_kib": target.server_rss_kib(),
                }
            )
        finally:
            await run.close()
            await asyncio.to_thread(target.stop)
    return results


async def reconnect(run: TargetRun, options: Options, backing: Backing) -> dict[str, Any]:
    """Restart Redis under the standard load; how long until everyone is back and
    resynced, and which events were lost or doubled (from the event log's seqs)."""
    gen = run.gen
    assert gen is not None and backing.redis is not None
    gen.reconnect = True
    marks: dict[str, float] = {}

    async def restart_redis() -> None:
        marks["restart"] = time.perf_counter()
        await asyncio.to_thread(backing.redis.restart)  # type: ignore[union-attr]
        marks["redis_back"] = time.perf_counter()

    offset = options.reconnect_seconds / 3
    summary = await run.step(
        scenario="reconnect",
        name="reconnect",
        rate=options.standard_rate,
        seconds=options.reconnect_seconds,
        during=(offset, restart_redis),
    )
    deadline = time.perf_counter() + 90
    while gen.connected < len(gen.clients) and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)  # resync replies
    dropped = [c for c in gen.clients if c.reconnects]
    back = [c.last_back for c in dropped if c.last_back]
    restart = marks.get("restart", 0.0)
    summary.update(
        reconnected_clients=len(dropped),
        still_away=len(gen.clients) - gen.connected,
        redis_down_s=round(marks.get("redis_back", restart) - restart, 2),
        all_back_s=round(max(back) - restart, 2) if back else None,
        **gen.seq_audit(),
    )
    return summary


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(open("/proc/meminfo").readline().split()[1])
    except OSError:
        mem_kib = 0
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "shared_cores": "the load generator, the servers, PostgreSQL, Redis and nginx "
        "all share these cores",
    }


async def run(options: Options, *, log) -> dict[str, Any]:
    backing = Backing(new_workdir())
    began = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    try:
        for name in options.targets:
            load = [round(x, 2) for x in os.getloadavg()]
            log(f"[{name}] starting (load average {load[0]:.2f})")
            target = make_target(name)
            await asyncio.to_thread(
                target.start,
                backing,
                rooms=options.rooms,
                members=options.members,
                env=options.server_env,
            )
            run_ = TargetRun(target, options)
            try:
                load_scenarios = [s for s in options.scenarios if s in LOAD_SCENARIOS]
                reconnects = "reconnect" in options.scenarios and name in RECONNECT_TARGETS
                if load_scenarios or reconnects:
                    await run_.open(track_seq=reconnects)
                    log(f"[{name}] connected {run_.connect}")
                for result in await run_load_scenarios(run_, options) if load_scenarios else []:
                    results.append({"target": name, "title": target.title, **result})
                    log(f"[{name}] {_line(result)}")
                if reconnects:
                    result = await reconnect(run_, options, backing)
                    results.append({"target": name, "title": target.title, **result})
                    log(f"[{name}] {_line(result)}")
            finally:
                await run_.close()
                await asyncio.to_thread(target.stop)
            if "idle" in options.scenarios:
                for result in await idle(target, options, backing):
                    results.append({"target": name, "title": target.title, **result})
                    log(f"[{name}] idle {result}")
    finally:
        await asyncio.to_thread(backing.close)
    return {
        "generated_at": began.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - began).total_seconds(), 1),
        "machine": machine(),
        "options": {k: v for k, v in vars(options).items()},
        "results": results,
    }


LOAD_SCENARIOS = ("light", "standard", "saturation")
RECONNECT_TARGETS = ("hearth", "channels-redis")


def _line(result: dict[str, Any]) -> str:
    keys = ("sent", "delivered", "lost", "refused", "deliveries_per_s", "p50_ms", "p99_ms")
    extra = f" held {result.get('held_rate_per_room')}/s ({result.get('stopped')})"
    tail = extra if result["scenario"] == "saturation" else ""
    return f"{result['scenario']}: " + ", ".join(f"{k} {result.get(k)}" for k in keys) + tail
