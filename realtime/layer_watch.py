"""Notice when Redis has forgotten this process's groups, and close its sockets.

A Redis that restarts (it keeps nothing on disk), fails over or is flushed forgets every
group membership. A consumer whose channel-layer connection survived keeps its socket
open and hears nothing more: `make bench`'s reconnect scenario saw 1,034 of 1,100 people
go deaf that way. Each process keeps one marker key in Redis and checks it every few
seconds; when it is gone, every socket of the process is closed with 4012 (not final:
"reconnect now"), and the clients reconnect and resync from their last seq, losing
nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from django.conf import settings

from room.errors import CloseCode

from . import local_sockets

logger = logging.getLogger(__name__)

# A reconnect-able code: autobahn lets a server send only 1000 or 3000-4999, and the
# protocol keeps 4401/4403/4404/4410 for closes that are final.
CLOSE_LAYER_LOST = CloseCode.LAYER_LOST
MARKER_TTL_SECONDS = 24 * 3600


_task: asyncio.Task | None = None


def start() -> None:
    """Watch on behalf of this process's sockets (once per process, Redis layer only)."""
    global _task
    if not settings.REDIS_URL:
        return
    if _task is None or _task.done() or _task.get_loop() is not asyncio.get_running_loop():
        _task = asyncio.create_task(_watch(settings.REDIS_URL, settings.HEARTH_LAYER_WATCH_SECONDS))


async def _watch(url: str, interval: float) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client = Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    marker = f"hearth:layer-marker:{uuid.uuid4().hex}"
    marked = False
    while True:
        try:
            if not marked:
                marked = bool(await client.set(marker, 1, ex=MARKER_TTL_SECONDS))
            elif not await client.expire(marker, MARKER_TTL_SECONDS):
                await _close_all()
                marked = bool(await client.set(marker, 1, ex=MARKER_TTL_SECONDS))
        except (RedisError, OSError):
            pass  # Redis away: once it answers again, a lost marker tells what it forgot
        except Exception:
            logger.exception("layer watch failed")
        await asyncio.sleep(interval)


async def _close_all() -> None:
    await local_sockets.close_all(CLOSE_LAYER_LOST, "Redis lost its groups")
