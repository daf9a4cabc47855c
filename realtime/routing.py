from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/meetings/<str:meeting_id>/", consumers.MeetingConsumer.as_asgi()),
]
