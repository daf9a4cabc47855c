from django.apps import AppConfig


class RoomConfig(AppConfig):
    name = "room"
    verbose_name = "Live room core"
    default_auto_field = "django.db.models.BigAutoField"
