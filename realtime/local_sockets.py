"""The sockets this process holds open: only a list of what is open here, never state.

Used to close them all at once when the process can no longer vouch for them (its
presence lease lapsed: realtime.lease).
"""

from __future__ import annotations

import logging
import weakref
from typing import Protocol

logger = logging.getLogger(__name__)


class Closable(Protocol):
    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None: ...


_sockets: weakref.WeakSet[Closable] = weakref.WeakSet()


def register(consumer: Closable) -> None:
    _sockets.add(consumer)


def unregister(consumer: Closable) -> None:
    _sockets.discard(consumer)


def count() -> int:
    return len(_sockets)


async def close_all(code: int, why: str) -> None:
    sockets = list(_sockets)
    logger.warning("%s; closing %s sockets so they reconnect and resync", why, len(sockets))
    for consumer in sockets:
        try:
            await consumer.close(code=code)
        except Exception:
            logger.exception("could not close a socket")
