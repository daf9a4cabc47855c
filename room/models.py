"""The meeting's event log: everything that changed a meeting, in order.

Invariant: per meeting, `seq` runs 1, 2, 3 … with no gaps and no repeats, in the
order the changes were applied. room.log allocates it as the newest seq + 1 with the
meeting row locked, in the same transaction that writes the change.
"""

from django.db import models

from groups.models import Meeting, Membership


class MeetingEvent(models.Model):
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    actor = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # NULL, not "", so the unique constraint applies only to frames that carry one.
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    created_at = models.DateTimeField()

    class Meta:
        # Moved from the realtime app with its table: the name stays.
        db_table = "realtime_meetingevent"
        ordering = ["meeting", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "seq"], name="event_seq_unique"),
            models.UniqueConstraint(
                fields=["meeting", "actor", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="event_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.meeting_id}#{self.seq} {self.type}"


class ServerProcess(models.Model):
    """One running server process, alive while its lease is renewed. When a process
    dies (kill -9, a lost machine), its lease runs out and any other process sweeps its
    connections away (realtime.lease), so nobody stays "present" with no socket."""

    id = models.CharField(primary_key=True, max_length=40)
    started_at = models.DateTimeField()
    lease_until = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.id


class Connection(models.Model):
    """One open websocket: a person in a meeting, held by a server process. A person is
    present in a meeting while he has at least one."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="connections")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    process = models.ForeignKey(ServerProcess, on_delete=models.CASCADE, related_name="+")
    session_hash = models.CharField(max_length=32, blank=True, db_index=True)
    opened_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["meeting", "membership"], name="connection_seat")]

    def __str__(self) -> str:
        return f"{self.membership_id} in {self.meeting_id} via {self.process_id}"
