"""The room's refusals and their codes, written once (docs/protocol.md lists them).

An action that refuses raises RoomError: nothing it did is kept (the transaction rolls
back), the person gets an `error` with the code and the message, and the socket stays
open unless `close_code` says otherwise.
"""

from enum import StrEnum
from typing import Final


class ErrorCode(StrEnum):
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    NOT_YOUR_TURN = "not_your_turn"
    MUTED = "muted"
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"  # [ext] the server is pushing back under load: nothing was done
    NOT_LIVE = "not_live"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    SERVER_ERROR = "server_error"


class CloseCode:
    """Websocket close codes. 40xx are not final (reconnect); 44xx are final. Plain
    ints, not an IntEnum: autobahn refuses any close code whose type is not int."""

    LAYER_LOST: Final = 4012  # [ext] this server lost its channel layer: reconnect
    NOT_LOGGED_IN: Final = 4401
    NOT_ALLOWED: Final = 4403
    NOT_FOUND: Final = 4404
    REPLACED: Final = 4409  # [ext] opened in too many windows: the oldest is closed
    ENDED: Final = 4410


class RoomError(Exception):
    """An action was refused. `message` is written for the person who asked."""

    def __init__(self, code: ErrorCode, message: str, *, close_code: int | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close_code = close_code


class AccessDenied(Exception):
    """Entering a meeting was refused; `code` is the close code for the socket (or what
    the room page turns into a redirect or a kind 404)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
