"""Who is on the other end of a websocket: Channels' own answer (the session's user,
its session hash checked), read on the room's database threads (realtime.calls).

Channels' AuthMiddleware reads it with database_sync_to_async, on the one thread a
process shares for all such work: a thousand people connecting at once queued there
behind each other's session and user reads (docs/performance.md).
"""

from typing import Any

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from .calls import in_db_thread


class RoomAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: dict[str, Any]) -> None:
        scope["user"]._wrapped = await in_db_thread(get_user.func, scope=scope)


def room_auth_stack(inner: Any) -> CookieMiddleware:
    """channels.auth.AuthMiddlewareStack, with RoomAuthMiddleware."""
    return CookieMiddleware(SessionMiddleware(RoomAuthMiddleware(inner)))
