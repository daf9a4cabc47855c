"""Logs the garbage collector's long passes: a full collection walks every object the
process holds and holds the GIL meanwhile, so every thread, the presence lease's
included, stands still (docs/performance.md, "idle")."""

import gc
import logging
import time
from typing import Any

logger = logging.getLogger(__name__)

LONG_PASS_SECONDS = 0.5

_started: list[float] = []


def _timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _started[:] = [time.monotonic()]
        return
    if not _started:
        return
    took = time.monotonic() - _started.pop()
    if took >= LONG_PASS_SECONDS:
        logger.warning(
            "garbage collection of generation %s took %.1f s (%s objects tracked)",
            info.get("generation"),
            took,
            len(gc.get_objects()) if took > 2 else "many",
        )


def watch() -> None:
    """Log every collection longer than LONG_PASS_SECONDS (once per process)."""
    if _timed not in gc.callbacks:
        gc.callbacks.append(_timed)
