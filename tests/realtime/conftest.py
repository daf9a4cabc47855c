"""Helpers for websocket tests: a real ASGI stack (origin check, session auth,
routing) driven by Channels' WebsocketCommunicator."""

import asyncio
import datetime as dt
import json
from contextlib import asynccontextmanager

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from config.asgi import application
from facilitation.models import FloorHold, PromptUse, Round, Turn
from groups.models import Meeting, MeetingStatus, Membership
from realtime import consumers
from realtime.dispatch import budgets
from realtime.models import MessageReport
from room.models import MeetingEvent
from tests import factories


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

    # Set by the `connect` helper.
    connected: bool
    refused_with: object
    snapshot: dict

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self._n = 0
        self.read_ahead: list[dict] = []
        self.notices: list[dict] = []

    async def send(self, frame: dict) -> str:
        self._n += 1
        frame = {"id": f"t{self._n}", **frame}
        await self.communicator.send_to(text_data=json.dumps(frame))
        return frame["id"]

    async def send_raw(self, text: str) -> None:
        await self.communicator.send_to(text_data=text)

    async def send_bytes(self, data: bytes) -> None:
        await self.communicator.send_to(bytes_data=data)

    async def receive(self, timeout: float = 3) -> dict:
        """The next frame: those read ahead while waiting for an answer come first."""
        if self.read_ahead:
            return self.read_ahead.pop(0)
        return json.loads(await self.communicator.receive_from(timeout=timeout))

    async def receive_until(self, predicate, timeout: float = 3) -> dict:
        """Skip frames until one matches; fail if none arrives in time. Private notices
        (no seq) that are skipped are kept for a later receive_until: the meeting's
        events (room.fanout) and the private notices (the channel layer) travel
        different ways, so one may overtake the other."""
        for index, frame in enumerate(self.notices):
            if predicate(frame):
                return self.notices.pop(index)
        while True:
            frame = await self.receive(timeout=timeout)
            if predicate(frame):
                return frame
            if "seq" not in frame and frame.get("type") not in {"ack", "error"}:
                self.notices.append(frame)

    async def reply_to(self, ref: str, timeout: float = 3) -> dict:
        """The answer to a frame. The fan-out writes a meeting's events straight to the
        socket, so the sender's own message may arrive before his answer: frames read
        on the way are handed out next, in order, as if the answer had come first."""
        seen: list[dict] = []
        while True:
            frame = await self.receive(timeout=timeout)
            if frame.get("type") in {"ack", "error"} and frame.get("ref") == ref:
                self.read_ahead[:0] = seen
                return frame
            seen.append(frame)

    async def request(self, frame: dict) -> dict:
        return await self.reply_to(await self.send(frame))

    async def nothing_pending(self, timeout: float = 0.2) -> bool:
        if self.read_ahead:
            return False
        return await self.communicator.receive_nothing(timeout=timeout)

    async def receive_close(self, timeout: float = 3) -> int:
        """Skip frames until the server closes the socket; return the close code."""
        while True:
            message = await self.communicator.receive_output(timeout)
            if message["type"] == "websocket.close":
                return message.get("code", 1000)
            assert message["type"] == "websocket.send", message

    async def still_works(self) -> None:
        """A harmless valid frame (lowering a hand that isn't raised) is acked. The
        budgets are emptied first: this checks the socket, not how often it may ask."""
        budgets.clear()
        reply = await self.request({"type": "hand.lower"})
        assert reply["type"] == "ack", reply
        assert reply["seq"] is None, reply


@asynccontextmanager
async def connect(
    user,
    meeting,
    *,
    origin: str | None = "http://localhost",
    expect_snapshot=True,
    cookie: str | None = None,
):
    """`meeting` is a Meeting, or any string to use as its id in the URL. With
    origin=None no Origin header is sent. `cookie` reuses a login session (else a new
    one is made for `user`). A refusal before accepting leaves client.connected False
    and its close code in client.refused_with."""
    headers = [(b"origin", origin.encode())] if origin is not None else []
    if cookie is None and user is not None:
        cookie = await session_cookie_for(user)
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    meeting_id = getattr(meeting, "public_id", meeting)
    communicator = WebsocketCommunicator(
        application, f"/ws/meetings/{meeting_id}/", headers=headers
    )
    connected, detail = await communicator.connect(timeout=5)
    client = Client(communicator)
    client.connected = connected
    client.refused_with = None if connected else detail
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


@database_sync_to_async
def room_state(meeting) -> dict:
    """Everything a frame could change in a meeting, to compare before and after a
    refused frame. Presence (attendance) is left out: connecting changes it."""
    m = Meeting.objects.get(pk=meeting.pk)
    return {
        "events": list(
            MeetingEvent.objects.filter(meeting=m)
            .order_by("seq")
            .values_list("seq", "type", "payload", "client_id")
        ),
        "reports": list(MessageReport.objects.filter(meeting=m).values_list("pk", flat=True)),
        "meeting": (
            m.status,
            m.opened_at,
            m.ended_at,
            m.queue,
            m.floor_holder_id,
            m.talking_piece,
            m.progressive,
            m.script_id,
            m.current_step_id,
        ),
        "members": list(
            Membership.objects.filter(circle_id=m.circle_id)
            .order_by("pk")
            .values_list("pk", "status", "role", "muted_until")
        ),
        "rounds": list(
            Round.objects.filter(meeting=m).order_by("pk").values_list("pk", "order", "ended_at")
        ),
        "turns": list(
            Turn.objects.filter(round__meeting=m).order_by("pk").values_list("pk", "ended_at")
        ),
        "floor_holds": FloorHold.objects.filter(meeting=m).count(),
        "prompt_uses": PromptUse.objects.filter(meeting=m).count(),
    }


@database_sync_to_async
def events_of(meeting) -> list[MeetingEvent]:
    return list(MeetingEvent.objects.filter(meeting_id=meeting.pk).order_by("seq"))


async def settle_departures() -> None:
    """Wait for the presence tasks that confirm departures after the grace period."""
    pending = list(consumers._pending_departures)
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


# Shared rooms and people ------------------------------------------------------------------


@pytest.fixture
def room(circle):
    """A meeting that is open now."""
    return factories.make_meeting(circle, status=MeetingStatus.LIVE)


@pytest.fixture
def waiting_room(circle):
    """A meeting an hour from now: joinable, not yet open."""
    return factories.make_meeting(
        circle, status=MeetingStatus.SCHEDULED, starts_at=timezone.now() + dt.timedelta(hours=1)
    )


@pytest.fixture
def other_member(circle):
    return factories.make_member(circle, alias="Alex")
