"""room.fanout against the real Redis: what a storm of publishes does."""

import asyncio
import json
from typing import Any

import pytest
from django.conf import settings

from room.fanout import Fanout

pytestmark = pytest.mark.asyncio

STORM = 400
"""Publishes at once: past redis-py's default pool of 100 connections, which raised
MaxConnectionsError (and closed the meeting's sockets with 4012); now a publish waits
for one of the pool's connections."""


class Ear:
    """A socket in the meeting, as the fan-out sees it."""

    def __init__(self) -> None:
        self.heard: list[str] = []
        self.closed: list[Any] = []

    def hears(self, audience: str) -> bool:
        return False

    async def deliver(self, common: list[str], private: list[list[Any]]) -> None:
        self.heard.extend(common)

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        self.closed.append(code)


async def test_a_storm_of_publishes_reaches_everyone_and_closes_nobody():
    assert settings.REDIS_URL, "this test needs Redis (the test run starts its own)"
    fanout = Fanout(settings.REDIS_URL)
    ear = Ear()
    await fanout.join("storm-room", ear)
    try:
        frames = [json.dumps({"n": n}) for n in range(STORM)]
        await asyncio.gather(*(fanout.publish("storm-room", {"frames": [f]}) for f in frames))
        for _ in range(100):
            if len(ear.heard) == STORM:
                break
            await asyncio.sleep(0.05)

        assert ear.closed == []
        assert sorted(ear.heard) == sorted(frames)
    finally:
        await fanout.leave("storm-room", ear)
