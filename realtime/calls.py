"""Running a service from the event loop: in the database thread, with its broadcasts
sent from the event loop once it committed (a refused or failed call sends nothing)."""

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

from room import broadcast


async def call_service[T](service: Callable[..., T], **kwargs: Any) -> T:
    collected, token = broadcast.collect()
    try:
        return await database_sync_to_async(service)(**kwargs)
    finally:
        await broadcast.deliver(collected, token)
