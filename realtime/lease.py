"""This process's presence lease: renewed every few seconds while it lives.

Every open socket is a Connection row held by a ServerProcess. The process renews its
lease RENEWALS_PER_LEASE times per HEARTH_PRESENCE_LEASE_SECONDS and sweeps the
connections of processes whose lease ran out (a `kill -9`, a lost machine): their
people are let go at once, since they have been gone longer than the grace period
already. A process that finds
its own lease gone (the database was unreachable for longer than the lease, and another
process swept it) closes its sockets with 4012: they reconnect and are counted anew.

The renewal runs on a thread of its own, with its own database connection, not on the
event loop: a connect storm (a Redis restart sends everyone back at once) kept the
event loop seconds behind, the renewal came late, the other process swept this one,
and its sockets closed again, over and over (`make bench --scenarios reconnect`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from django.conf import settings
from django.db import connections

from room.errors import CloseCode

from . import local_sockets, presence
from .calls import call_service, from_lease_thread

logger = logging.getLogger(__name__)

PROCESS_ID = f"{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
RENEWALS_PER_LEASE = 5
"""A renewal may come 4/5 of a lease late before the lease lapses (with 3, a third)."""


class _Keeper(threading.Thread):
    """Renews and sweeps for the sockets of one event loop; stops when told, or when
    that loop has closed (each test has its own loop)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name="hearth-lease", daemon=True)
        self.loop = loop
        self.registered = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        interval = settings.HEARTH_PRESENCE_LEASE_SECONDS / RENEWALS_PER_LEASE
        try:
            while not self.stopping.is_set() and not self.loop.is_closed():
                began = time.monotonic()
                renewed = self._once()
                if time.monotonic() - began > interval:
                    # Seen under 1,000-then-5,000 connects on two cores: the lease
                    # lapsed (docs/performance.md); which step was slow says why.
                    logger.warning(
                        "presence lease: renewing took %.1f s, sweeping %.1f s",
                        renewed - began,
                        time.monotonic() - renewed,
                    )
                self.stopping.wait(interval)
        finally:
            connections.close_all()

    def _once(self) -> float:
        """Renew, then sweep; returns when the renewal was done (time.monotonic)."""
        # No close_old_connections() here: the thread keeps its one connection for
        # life (closed on an error below). Django would close it every CONN_MAX_AGE,
        # and opening one (a new PostgreSQL backend) during a storm is what can take
        # seconds; a renewal must be one quick UPDATE.
        try:
            kept = from_lease_thread(
                presence.lease_renew,
                process_id=PROCESS_ID,
                seconds=settings.HEARTH_PRESENCE_LEASE_SECONDS,
            )
            renewed = time.monotonic()
            if not kept and self.registered.is_set():
                self._on_loop(
                    local_sockets.close_all(CloseCode.LAYER_LOST, "our presence lease lapsed")
                )
            self.registered.set()
            for gone in from_lease_thread(presence.sweep_lapsed, own=PROCESS_ID):
                self._on_loop(_let_go(gone))
            return renewed
        except Exception:
            logger.exception("presence lease: could not renew or sweep")
            connections.close_all()  # a broken connection is opened anew next time
            return time.monotonic()

    def _on_loop(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            asyncio.run_coroutine_threadsafe(work, self.loop)
        except RuntimeError:  # the loop closed meanwhile: nobody left to tell
            work.close()


_keeper: _Keeper | None = None
_lock = threading.Lock()


async def ensure_started() -> str:
    """Start renewing (once per process and event loop); returns this process's id once
    its lease row exists, so connections can point at it."""
    global _keeper
    loop = asyncio.get_running_loop()
    with _lock:
        if _keeper is None or not _keeper.is_alive() or _keeper.loop is not loop:
            if _keeper is not None:
                _keeper.stopping.set()
            _keeper = _Keeper(loop)
            _keeper.start()
        keeper = _keeper
    if not keeper.registered.is_set():
        # Registration waits for the database; a connect that cannot be recorded fails.
        if not await asyncio.to_thread(keeper.registered.wait, 10):
            raise TimeoutError("presence lease: could not register this process")
    return PROCESS_ID


def stop() -> None:
    """Stop renewing and close the thread's connection (the test run, before it drops
    its database)."""
    global _keeper
    with _lock:
        keeper, _keeper = _keeper, None
    if keeper is not None:
        keeper.stopping.set()
        keeper.join(timeout=15)


async def _let_go(gone: presence.Departure) -> None:
    try:
        await call_service(presence.room_absence_confirm, departure=gone)
    except Exception:
        logger.exception("presence: could not let %s go", gone.membership_id)
