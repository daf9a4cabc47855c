"""Facilitation: the prompt library, agenda scripts, rounds and turns, who spoke.

Invariants:
- built-in prompts and scripts have a `key` and no circle; a circle's own have a circle;
- a round has at most one open turn (ended_at is null), and it is the round's current one;
- a meeting has at most one active round (ended_at is null).
The live round and queue are changed only by facilitation.services, with the meeting
row locked; the pure rules live in facilitation.rounds and facilitation.queue.
"""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from groups.models import Circle, Meeting, Membership

from .strategies import STRATEGIES


class Audience(models.TextChoices):
    MEN = "men", _("Men's circles")
    PARTNERS = "partners", _("Partner circles")
    BOTH = "both", _("Both")


class Phase(models.TextChoices):
    OPENING = "opening", _("Opening")
    CHECK_IN = "check_in", _("Check-in")
    SHARING = "sharing", _("Sharing")
    CHECK_OUT = "check_out", _("Check-out")


class RoundKind(models.TextChoices):
    CHECK_IN = "check_in", _("Check-in round")
    CHECK_OUT = "check_out", _("Check-out round")
    TOPIC = "topic", _("Topic round")


STRATEGY_CHOICES = [(key, s.title) for key, s in STRATEGIES.items()]


class Prompt(models.Model):
    key = models.SlugField(max_length=80, unique=True, null=True, blank=True)
    text = models.CharField(_("prompt"), max_length=500)
    strategy = models.CharField(_("strategy"), max_length=40, choices=STRATEGY_CHOICES)
    kind = models.CharField(_("for"), max_length=16, choices=Audience.choices)
    phase = models.CharField(_("phase"), max_length=16, choices=Phase.choices)
    depth = models.PositiveSmallIntegerField(
        _("depth"),
        validators=[MinValueValidator(1), MaxValueValidator(3)],
        help_text=_("1 thoughts and facts, 2 meaning, 3 feelings and the body."),
    )
    source = models.CharField(_("source"), max_length=300, blank=True)
    circle = models.ForeignKey(
        Circle, on_delete=models.CASCADE, null=True, blank=True, related_name="prompts"
    )
    created_by = models.ForeignKey(
        Membership, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phase", "depth", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(depth__in=[1, 2, 3]), name="prompt_depth"),
        ]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def built_in(self) -> bool:
        return self.circle_id is None


class PromptUse(models.Model):
    """When a prompt was used in a circle, so the picker can say "last used 3 weeks
    ago" and the circle doesn't hear the same one every week."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="uses")
    circle = models.ForeignKey(Circle, on_delete=models.CASCADE, related_name="+")
    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="+")
    used_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["circle", "prompt", "-used_at"])]

    def __str__(self) -> str:
        return f"{self.prompt_id} in {self.circle_id}"


class Script(models.Model):
    key = models.SlugField(max_length=80, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("for"), max_length=16, choices=Audience.choices)
    description = models.TextField(_("description"), blank=True)
    circle = models.ForeignKey(
        Circle, on_delete=models.CASCADE, null=True, blank=True, related_name="scripts"
    )
    based_on = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def total_minutes(self) -> int:
        return sum(step.minutes for step in self.steps.all())


class ScriptStep(models.Model):
    script = models.ForeignKey(Script, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    title = models.CharField(_("title"), max_length=120)
    purpose = models.CharField(
        _("purpose"), max_length=300, help_text=_("Shown to members: why this step exists.")
    )
    notes = models.TextField(_("facilitator notes"), blank=True)
    minutes = models.PositiveSmallIntegerField(
        _("minutes"), validators=[MinValueValidator(1), MaxValueValidator(180)]
    )
    round_kind = models.CharField(max_length=16, choices=RoundKind.choices, blank=True)
    prompt = models.ForeignKey(Prompt, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["script", "position"]
        constraints = [
            models.UniqueConstraint(fields=["script", "position"], name="step_position_unique")
        ]

    def __str__(self) -> str:
        return self.title


class Round(models.Model):
    """A round's state as the pure machine sees it (order, outcomes, current,
    turn_number), plus what members see (kind, prompt, time per turn)."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="rounds")
    kind = models.CharField(max_length=16, choices=RoundKind.choices)
    order_kind = models.CharField(max_length=24, default="seating")
    prompt = models.ForeignKey(Prompt, on_delete=models.SET_NULL, null=True, blank=True)
    prompt_text = models.CharField(max_length=500, blank=True)
    prompt_strategy = models.CharField(max_length=40, blank=True)
    order = models.JSONField(default=list)
    outcomes = models.JSONField(default=list)
    current = models.PositiveSmallIntegerField(null=True, blank=True)
    turn_number = models.PositiveIntegerField(default=0)
    seconds_per_turn = models.PositiveIntegerField(null=True, blank=True)
    quiet_until = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["meeting"],
                condition=models.Q(ended_at__isnull=True),
                name="one_active_round_per_meeting",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} in {self.meeting_id}"


class TurnOutcome(models.TextChoices):
    DONE = "done", _("Spoke")
    PASSED = "passed", _("Passed")
    SKIPPED = "skipped", _("Skipped")


class Turn(models.Model):
    """One member's turn in a round; its pk is the protocol's `turn_id`."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="turns")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="turns")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    deadline = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=TurnOutcome.choices, blank=True)

    class Meta:
        ordering = ["round", "number"]
        constraints = [
            models.UniqueConstraint(fields=["round", "number"], name="turn_number_unique"),
            models.UniqueConstraint(
                fields=["round"],
                condition=models.Q(ended_at__isnull=True),
                name="one_open_turn_per_round",
            ),
        ]

    def __str__(self) -> str:
        return f"Turn {self.number} of round {self.round_id}"


class FloorHold(models.Model):
    """Time someone held the floor outside rounds, for speaking counts."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="floor_holds")
    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="+")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.membership_id} held the floor"


class FeelingShare(models.Model):
    """Feeling words and a 1–10 "weather" a speaker shared in a check-in turn. Kept in
    his own history."""

    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="feelings")
    membership = models.ForeignKey(
        Membership, on_delete=models.CASCADE, related_name="feeling_shares"
    )
    words = models.JSONField(default=list)
    weather = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Feelings of {self.membership_id}"
