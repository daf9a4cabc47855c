"""The live meeting websocket: parse, check, call a service, answer.

The consumer holds no meeting state. It knows only which seat it is (meeting,
membership), fixed at connect; every frame re-checks rights against the database in
the service it calls. Broadcasts reach it through its meeting's fan-out
(room.fanout) as ready-made JSON text.
"""

import asyncio
import logging
import uuid

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from room import broadcast
from room.context import Seat
from room.errors import AccessDenied, ErrorCode, RoomError
from room.fanout import fanout

from . import calls, lease, local_sockets, presence, protocol, selectors, services
from .calls import call_service, in_db_thread
from .dispatch import budgets, busy_error, over_budget_error, perform
from .protocol import RESYNC_BATCH, dumps, frame_ref, parse_frame

logger = logging.getLogger(__name__)

# Tasks that announce a departure after the grace period; kept referenced until done.
_pending_departures: set[asyncio.Task] = set()


class MeetingConsumer(AsyncWebsocketConsumer):
    # Everything reaches a socket through its meeting's fan-out (room.fanout), closes
    # on logout included: no channel-layer channel per socket, so none of its memory,
    # its receive task, or its Redis round trips on connect and disconnect.
    channel_layer_alias = "hearth-no-channel-layer"
    seat: Seat | None = None
    _room: str | None = None  # the meeting's room key while listening (room.fanout)
    _held: list[tuple[list[str], list[list]]] | None = None  # fan-out before the snapshot

    async def dispatch(self, message: dict) -> None:
        """Channels 4.2+ hops to a thread to close stale DB connections before every
        message, broadcasts included (about a fifth of a relay's CPU, STACK_NOTES).
        All our database work goes through realtime.calls, which closes stale
        connections in its own thread, so the hop buys nothing here."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        # Accept first: a close code sent before accepting reaches the browser as 1006.
        await self.accept()
        room = _room_key(self.scope["url_route"]["kwargs"]["meeting_id"])
        # Listen before anything is read: whatever commits from now on reaches us, and
        # what the snapshot already holds the client drops by seq.
        self._held = []
        self._room = room
        if room is not None:
            await fanout(settings.REDIS_URL).join(room, self)
        try:
            seat = await call_service(
                presence.room_enter,
                user=self.scope.get("user"),
                meeting_id=room or "",
                process_id=await lease.ensure_started(),
                session_key=getattr(self.scope.get("session"), "session_key", None),
            )
        except AccessDenied as denied:
            await self._leave_room()
            await self.close(code=denied.code)
            return
        self.seat = seat  # from here on, whatever fails gives the seat back (__call__)
        # The seat is taken with the meeting locked; the snapshot is read after, as one
        # moment but without the lock (selectors.one_moment), so the people of a meeting
        # connecting at once don't queue behind each other's snapshots. What commits in
        # between also reaches us from the fan-out; the client drops it by seq.
        snapshot = await in_db_thread(
            selectors.meeting_snapshot_text,
            meeting_pk=seat.meeting_pk,
            membership_id=seat.membership_id,
        )
        local_sockets.register(self)
        await self.send(text_data=snapshot)
        held, self._held = self._held or [], None
        for common, private in held:  # the client drops by seq what the snapshot had
            await self.deliver(common, private)

    async def _leave_room(self) -> None:
        room, self._room = self._room, None
        if room is not None:
            await fanout(settings.REDIS_URL).leave(room, self)

    def hears(self, audience: str) -> bool:
        """Whether frames for `audience` (room.broadcast) are his. The role is the one
        he was seated with: a change of role reseats him (realtime.signals)."""
        seat = self.seat
        if seat is None:
            return False
        if audience == broadcast.FACILITATORS:
            return seat.is_facilitator
        if audience.startswith("connection:"):
            return seat.connection_id is not None and audience == broadcast.connection(
                seat.connection_id
            )
        if audience.startswith("all-but:"):
            return audience != broadcast.all_but(seat.membership_id)
        return audience == broadcast.member(seat.membership_id)

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # An exception anywhere (the fan-out losing Redis, say) ends the consumer
            # without a disconnect: the seat is released here all the same.
            await self._release_seat()

    async def _release_seat(self) -> None:
        seat = self.seat
        if seat is None:
            return
        self.seat = None
        local_sockets.unregister(self)
        await self._leave_room()
        departure = await call_service(presence.room_leave, seat=seat)
        if departure is not None:
            task = asyncio.create_task(_confirm_departure(departure))
            _pending_departures.add(task)
            task.add_done_callback(_pending_departures.discard)

    async def disconnect(self, code: int) -> None:
        await self._release_seat()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        seat = self.seat
        if seat is None:
            return
        try:
            # Frames are JSON text: a binary frame is refused even if its bytes are JSON.
            frame = parse_frame(text_data)
        except RoomError as error:
            raw = text_data if text_data is not None else bytes_data
            await self._send_error(getattr(error, "ref", None) or frame_ref(raw), error)
            return
        try:
            if not budgets.take(seat, frame.command):
                raise over_budget_error()
            if calls.backlog() > settings.HEARTH_DB_BACKLOG:
                raise busy_error()
            if isinstance(frame.command, protocol.Resync):
                await self._resync(frame.command.after)
                return
            accepted = await call_service(
                perform, seat=seat, command=frame.command, now=timezone.now()
            )
        except RoomError as error:
            await self._send_error(frame.id, error)
            if error.close_code:
                await self.close(code=error.close_code)
            return
        except Exception:
            # The transaction rolled back, so nothing is half-changed; the socket stays up.
            logger.exception(
                "frame failed: type=%s meeting=%s membership=%s",
                frame.type,
                seat.meeting_pk,
                seat.membership_id,
            )
            await self._send_error(
                frame.id,
                RoomError(
                    ErrorCode.SERVER_ERROR, "Something went wrong on our side. Please try again."
                ),
            )
            return
        await self.send(text_data=dumps(protocol.ack(frame.id, accepted.seq)))

    async def _resync(self, after: int) -> None:
        while True:
            fetched, newest = await in_db_thread(
                services.events_after, seat=self.seat, after=after, limit=RESYNC_BATCH
            )
            events = protocol.oldest_within(fetched, protocol.EVENTS_FRAME_MAX_BYTES)
            await self.send(text_data=dumps(protocol.events_batch(events, newest)))
            if len(events) == len(fetched) < RESYNC_BATCH:
                return
            after = events[-1]["seq"]

    async def _send_error(self, ref: str | None, error: RoomError) -> None:
        await self.send(text_data=dumps(protocol.error(ref, error.code, error.message)))

    # Deliveries from the meeting's fan-out (room.fanout) ---------------------------

    async def deliver(self, common: list[str], private: list[list]) -> None:
        """A meeting's message from room.fanout: its frames for everyone, and those of
        the private ones that are his. Until his snapshot is out they wait (he is not
        seated yet, so who he is isn't known): a client hears the snapshot first."""
        if self._held is not None:
            self._held.append((common, private))
            return
        texts = common + [t for who, ts in private if self.hears(who) for t in ts]
        await self.send_texts(texts)

    async def send_texts(self, texts: list[str]) -> None:
        """Ready-made frames, written as they are."""
        for text in texts:
            await self.base_send({"type": "websocket.send", "text": text})


async def _confirm_departure(departure: presence.Departure) -> None:
    await asyncio.sleep(settings.HEARTH_PRESENCE_GRACE_SECONDS)
    try:
        await call_service(presence.room_absence_confirm, departure=departure)
    except Exception:
        logger.exception("presence: could not confirm departure of %s", departure.membership_id)


def _room_key(meeting_id: str) -> str | None:
    """The meeting's room key (its public id, as room.log.room_key writes it), or None
    for an address that cannot be a meeting."""
    try:
        return str(uuid.UUID(meeting_id))
    except ValueError:
        return None
