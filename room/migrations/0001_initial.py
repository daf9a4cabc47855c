"""MeetingEvent moves here from realtime; its table stays (state only, no SQL)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("groups", "0001_initial"),
        ("realtime", "0004_meetingevent_moves_to_room"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MeetingEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("seq", models.PositiveBigIntegerField()),
                        ("type", models.CharField(max_length=40)),
                        ("payload", models.JSONField(default=dict)),
                        ("client_id", models.CharField(blank=True, max_length=64, null=True)),
                        ("created_at", models.DateTimeField()),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to="groups.membership",
                            ),
                        ),
                        (
                            "meeting",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="groups.meeting",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "realtime_meetingevent",
                        "ordering": ["meeting", "seq"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("meeting", "seq"), name="event_seq_unique"
                            ),
                            models.UniqueConstraint(
                                condition=models.Q(("client_id__isnull", False)),
                                fields=("meeting", "actor", "client_id"),
                                name="event_client_id_once",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
