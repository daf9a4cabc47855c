"""What the room keeps for its facilitators: flags on messages and crisis alerts.
(The event log itself is room.models.MeetingEvent.)"""

from django.db import models

from groups.models import Meeting, Membership


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
