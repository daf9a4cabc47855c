"""realtime.pauses: a long garbage-collection pass is logged, with its generation."""

import gc
import logging

from realtime import pauses


def test_a_long_collection_is_logged(monkeypatch, caplog):
    monkeypatch.setattr(pauses, "LONG_PASS_SECONDS", 0.0)  # every pass counts as long
    pauses.watch()
    pauses.watch()  # once per process, however often asked
    try:
        assert gc.callbacks.count(pauses._timed) == 1
        with caplog.at_level(logging.WARNING, logger="realtime.pauses"):
            gc.collect(2)
        assert any(
            "garbage collection of generation 2 took" in r.getMessage() for r in caplog.records
        )
    finally:
        gc.callbacks.remove(pauses._timed)
