"""A circle's agendas: it picks a default script, and a facilitator copies one (built-in
or the circle's own) to edit it for the circle.

Invariants: built-in scripts are never changed here, only copied; a circle only uses
scripts that serve its kind (built-ins for its kind or "both", or its own), so nothing
written for partner circles reaches a men's circle or the reverse. Every service
re-reads the actor and locks the circle row first.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from groups.access import lock_circle_as_facilitator
from groups.models import Circle, Membership

from .models import Script, ScriptStep


class ScriptError(ValidationError):
    """The script can't be used by this circle; the message is written for a person."""


def _require_usable(*, circle: Circle, script: Script) -> None:
    if script.circle_id is not None:
        usable = script.circle_id == circle.pk
    else:
        usable = script.kind in (circle.kind, "both")
    if not usable:
        raise ScriptError(_("That agenda isn't available to this circle."), "not_available")


def scripts_for(*, circle: Circle):
    """The agendas a circle can pick from or copy: built-ins for its kind and its own."""
    return Script.objects.filter(circle__isnull=True, kind__in=[circle.kind, "both"]) | (
        Script.objects.filter(circle=circle)
    )


@transaction.atomic
def script_copy(
    *,
    actor: Membership,
    circle: Circle,
    script: Script,
    name: str | None = None,
    make_default: bool = False,
) -> Script:
    """The circle's own copy of `script` with all its steps, which its facilitators may
    then edit; with `make_default` it becomes the agenda of the circle's next meetings."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    _require_usable(circle=circle, script=script)
    copy = Script.objects.create(
        key=None,
        name=(name or "").strip() or script.name,
        # A copy is for this circle, so it takes the circle's kind even from a "both" script.
        kind=circle.kind,
        description=script.description,
        circle=circle,
        based_on=script,
    )
    ScriptStep.objects.bulk_create(
        ScriptStep(
            script=copy,
            position=step.position,
            title=step.title,
            purpose=step.purpose,
            notes=step.notes,
            minutes=step.minutes,
            round_kind=step.round_kind,
            prompt_id=step.prompt_id,
        )
        for step in script.steps.order_by("position")
    )
    if make_default:
        circle.default_script = copy
        circle.save(update_fields=["default_script"])
    return copy


@transaction.atomic
def script_set_default(*, actor: Membership, circle: Circle, script: Script | None) -> Circle:
    """Pick the circle's default agenda; None goes back to the built-in one for its kind.
    Meetings already under way keep the agenda they started with."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    if script is not None:
        _require_usable(circle=circle, script=script)
    circle.default_script = script
    circle.save(update_fields=["default_script"])
    return circle
