"""The framework's floor: a bare Channels consumer that only `group_send`s what it
receives, served by daphne over a Redis channel layer like Hearth.

Like Hearth's consumer it skips Channels' per-message database clean-up hop (it has
no database), so the floor is what the framework costs when used well.
"""

import json
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.floors.channels_settings")

import django  # noqa: E402

django.setup()

from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

from bench.floors import shapes  # noqa: E402


class RelayConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message: dict) -> None:
        await getattr(self, get_handler_name(message))(message)

    async def connect(self) -> None:
        await self.accept()
        self.room = "relay-" + self.scope["url_route"]["kwargs"]["room"]
        self.seq = 0
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.send(text_data=shapes.SNAPSHOT)

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.room, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        frame = json.loads(text_data or "{}")
        self.seq += 1
        await self.send(text_data=shapes.ack(frame.get("id"), self.seq))
        if frame.get("type") == "chat.send":
            text = shapes.chat_message(frame, self.seq)
            await self.channel_layer.group_send(self.room, {"type": "relay.text", "text": text})

    async def relay_text(self, message: dict) -> None:
        await self.send(text_data=message["text"])


application = ProtocolTypeRouter(
    {
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("ws/meetings/<str:room>/", RelayConsumer.as_asgi())])
        )
    }
)
