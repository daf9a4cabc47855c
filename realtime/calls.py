"""Running database work from the event loop.

Channels runs every database_sync_to_async call of a process on one thread; with
PostgreSQL that thread was the wall (`make bench`: 85-97% busy while the cores were
not). Here the live room's calls run on a pool of HEARTH_DB_THREADS threads instead,
each keeping its own persistent connection, so rooms wait on each other only where
they share a row lock (one meeting). Broadcasts a call commits are sent from the event
loop once it returns (a refused or failed call sends nothing).
"""

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import close_old_connections, connections

from room import broadcast

_executor: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(
            max_workers=settings.HEARTH_DB_THREADS, thread_name_prefix="hearth-db"
        )
    return _executor


async def in_db_thread[T](work: Callable[..., T], **kwargs: Any) -> T:
    """`work(**kwargs)` on a database thread (stale connections closed around it, as
    Channels does)."""
    run = DatabaseSyncToAsync(work, thread_sensitive=False, executor=_pool())
    return await run(**kwargs)


def from_lease_thread[T](work: Callable[..., T], **kwargs: Any) -> T:
    """`work(**kwargs)` for the presence lease's own thread (realtime.lease): run there,
    except on SQLite (`make run`), which takes one writer at a time: there it waits its
    turn on the room's one database thread, or a renewal would lock out a chat message."""
    if settings.HEARTH_DB_THREADS > 1:
        return work(**kwargs)

    def on_the_room_thread() -> T:
        close_old_connections()
        try:
            return work(**kwargs)
        finally:
            close_old_connections()

    return _pool().submit(on_the_room_thread).result()


def backlog() -> int:
    """Calls waiting for a database thread in this process."""
    return _executor._work_queue.qsize() if _executor is not None else 0


async def call_service[T](service: Callable[..., T], **kwargs: Any) -> T:
    collected, token = broadcast.collect()
    try:
        return await in_db_thread(service, **kwargs)
    finally:
        await broadcast.deliver(collected, token)


def shutdown() -> None:
    """Close every database thread's connection and stop the threads (the test run
    does this before it drops its database)."""
    global _executor
    executor, _executor = _executor, None
    if executor is None:
        return
    threads = settings.HEARTH_DB_THREADS
    everyone = threading.Barrier(threads)

    def close_here() -> None:
        connections.close_all()
        everyone.wait(timeout=10)  # one task per thread: none may take two

    for future in [executor.submit(close_here) for _ in range(threads)]:
        future.result(timeout=15)
    executor.shutdown(wait=True)
