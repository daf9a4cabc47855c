from django.urls import path

from . import views

app_name = "realtime"

urlpatterns = [
    path("meetings/<uuid:meeting_id>/", views.meeting_room, name="meeting_room"),
]
