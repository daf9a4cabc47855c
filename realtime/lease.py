"""This process's presence lease: renewed every few seconds while it lives.

Every open socket is a Connection row held by a ServerProcess. The process renews its
lease every HEARTH_PRESENCE_LEASE_SECONDS / 3 and sweeps the connections of processes
whose lease ran out (a `kill -9`, a lost machine): their people are let go at once,
since they have been gone longer than the grace period already. A process that finds
its own lease gone (the database was unreachable for longer than the lease, and another
process swept it) closes its sockets with 4012: they reconnect and are counted anew.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

from django.conf import settings

from room.errors import CloseCode

from . import local_sockets, presence
from .calls import call_service, in_lease_thread

logger = logging.getLogger(__name__)

PROCESS_ID = f"{socket.gethostname()[:20]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

_task: asyncio.Task | None = None
_registered: asyncio.Event | None = None


async def ensure_started() -> str:
    """Start renewing (once per process and event loop); returns this process's id once
    its lease row exists, so connections can point at it."""
    global _task, _registered
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _task.get_loop() is not loop:
        _registered = asyncio.Event()
        _task = asyncio.create_task(_keep(_registered))
    if _registered is not None:
        # Registration waits for the database; a connect that cannot be recorded fails.
        await asyncio.wait_for(_registered.wait(), timeout=10)
    return PROCESS_ID


async def _keep(registered: asyncio.Event) -> None:
    lease = settings.HEARTH_PRESENCE_LEASE_SECONDS
    while True:
        try:
            kept = await in_lease_thread(presence.lease_renew, process_id=PROCESS_ID, seconds=lease)
            if not kept and registered.is_set():
                await local_sockets.close_all(CloseCode.LAYER_LOST, "our presence lease lapsed")
            registered.set()
            for gone in await in_lease_thread(presence.sweep_lapsed, own=PROCESS_ID):
                await _let_go(gone)
        except Exception:
            logger.exception("presence lease: could not renew or sweep")
        await asyncio.sleep(lease / 3)


async def _let_go(gone: presence.Departure) -> None:
    try:
        await call_service(presence.room_absence_confirm, departure=gone)
    except Exception:
        logger.exception("presence: could not let %s go", gone.membership_id)
