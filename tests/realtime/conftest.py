"""Helpers for websocket tests: a real ASGI stack (origin check, session auth,
routing) driven by Channels' WebsocketCommunicator."""

import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

from config.asgi import application


@database_sync_to_async
def session_cookie_for(user) -> str:
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@database_sync_to_async
def users_of(*memberships):
    """The users behind memberships, loaded outside the event loop."""
    return [type(m).objects.select_related("user").get(pk=m.pk).user for m in memberships]


class Client:
    """A websocket client speaking the protocol, with small conveniences."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self._n = 0

    async def send(self, frame: dict) -> str:
        self._n += 1
        frame = {"id": f"t{self._n}", **frame}
        await self.communicator.send_to(text_data=json.dumps(frame))
        return frame["id"]

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 3) -> dict:
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, predicate, timeout: float = 3) -> dict:
        """Skip frames until one matches; fail if none arrives in time."""
        while True:
            frame = await self.receive(timeout=timeout)
            if predicate(frame):
                return frame

    async def reply_to(self, ref: str, timeout: float = 3) -> dict:
        return await self.receive_until(
            lambda f: f.get("type") in {"ack", "error"} and f.get("ref") == ref, timeout
        )

    async def request(self, frame: dict) -> dict:
        return await self.reply_to(await self.send(frame))

    async def nothing_pending(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout=timeout)


@asynccontextmanager
async def connect(user, meeting, *, origin: str = "http://localhost", expect_snapshot=True):
    headers = [(b"origin", origin.encode())]
    if user is not None:
        headers.append((b"cookie", (await session_cookie_for(user)).encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/meetings/{meeting.public_id}/", headers=headers
    )
    connected, _ = await communicator.connect(timeout=5)
    client = Client(communicator)
    client.connected = connected
    try:
        if connected and expect_snapshot:
            client.snapshot = await client.receive()
            assert client.snapshot["type"] == "snapshot"
        yield client
    finally:
        await communicator.disconnect()


@pytest.fixture
def ws_connect():
    return connect
