"""The meeting's event log: everything that changed a meeting, in order.

Invariant: per meeting, `seq` runs 1, 2, 3 … with no gaps and no repeats, in the
order the changes were applied. Services allocate it as the newest seq + 1 with the
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


class MessageReport(models.Model):
    """A member flagged a message for the facilitators. Kept for the moderation
    tools; never shown to the group."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="reports")
    target_seq = models.PositiveBigIntegerField()
    reporter = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Report on {self.meeting_id}#{self.target_seq}"


class CrisisAlert(models.Model):
    """A message matched crisis language. Kept so a facilitator who reconnects, joins
    late or uses a second device still sees it; never shown to members."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="crisis_alerts")
    target_seq = models.PositiveBigIntegerField()
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=20)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Crisis alert {self.meeting_id}#{self.target_seq}"
