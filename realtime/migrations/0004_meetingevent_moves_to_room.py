"""MeetingEvent now belongs to the room core (room.MeetingEvent); the table stays."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("realtime", "0003_crisisalert"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="MeetingEvent")],
            database_operations=[],
        ),
    ]
