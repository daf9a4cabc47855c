"""A circle's own library: the prompts its facilitators write and the steps of the agendas
it copied. (Copying a script and picking the default agenda live in facilitation.scripts.)

Invariants: built-in prompts and scripts are never changed or deleted here; a circle's own
prompt takes the circle's kind, so nothing written for a partner circle reaches a men's
circle or the reverse; a step's prompt comes from the circle's own library; a script's
step positions stay 1..n with no gaps. Every service locks the circle row first, then
re-reads the actor, so a facilitator removed since the page loaded can no longer act.
"""

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils.translation import gettext as _

from accounts.text import UNPRINTABLE_MESSAGE, printable
from groups.access import lock_circle_as_facilitator
from groups.models import Circle, Membership
from groups.services import CircleRuleError

from .models import Phase, Prompt, RoundKind, Script, ScriptStep
from .strategies import STRATEGIES

PROMPT_TEXT_MIN = 10
PROMPT_TEXT_MAX = 500
SCRIPT_NAME_MAX = 120
STEP_TITLE_MAX = 120
STEP_PURPOSE_MAX = 300
STEP_MINUTES_MAX = 180
STEP_NOTES_MAX = 2000
MAX_STEPS = 30
AGENDA_NOTES_MAX = 10_000
"""All of an agenda's private notes together: the facilitator's snapshot carries every
step's notes, and it has a size it never exceeds (realtime.protocol)."""
MAX_OWN_PROMPTS = 50
"""A circle's own prompts: the facilitator's snapshot carries the whole library."""
# Added to positions while renumbering: PostgreSQL checks a plain unique constraint
# row by row, so positions are moved out of the way first and then back, never onto
# a position another row still holds.
_PARKING = 10_000


def own_prompt_source() -> str:
    """The `source` stored on a prompt a circle's facilitators wrote."""
    return _("Written by the circle's facilitators")


def library_filter(circle: Circle) -> Q:
    """The prompts a circle may use: built-ins for its kind (or "both") and its own.
    realtime.selectors._prompts_sql says the same in SQL (a facilitator's connect);
    tests/realtime/test_snapshot_sql.py holds the two together."""
    return Q(circle__isnull=True, kind__in=[circle.kind, "both"]) | Q(circle_id=circle.pk)


# Prompts ---------------------------------------------------------------------------------


def _refuse_unprintable(field: str, *values: str) -> None:
    if not all(printable(value or "") for value in values):
        raise CircleRuleError(str(UNPRINTABLE_MESSAGE), field)


def _clean_prompt(*, text: str, strategy: str, phase: str, depth: int) -> dict:
    _refuse_unprintable("text", text)
    text = " ".join((text or "").split())
    if len(text) < PROMPT_TEXT_MIN:
        raise CircleRuleError(
            _("Please write the prompt as you would say it aloud, in a sentence or two."),
            "text",
        )
    if len(text) > PROMPT_TEXT_MAX:
        raise CircleRuleError(
            _(
                "That prompt is longer than %(max)s characters. A short question is easier "
                "to hold in mind while someone is listening."
            )
            % {"max": PROMPT_TEXT_MAX},
            "text",
        )
    if strategy not in STRATEGIES:
        raise CircleRuleError(
            _("Please pick the strategy this prompt draws on, so others can see why it's here."),
            "strategy",
        )
    if phase not in Phase.values:
        raise CircleRuleError(_("Please pick the part of the meeting it is for."), "phase")
    if depth not in (1, 2, 3):
        raise CircleRuleError(
            _("Please pick a depth from 1 (thoughts and facts) to 3 (feelings and the body)."),
            "depth",
        )
    return {"text": text, "strategy": strategy, "phase": phase, "depth": depth}


def _own_prompt(*, circle: Circle, prompt: Prompt) -> Prompt:
    """The circle's own prompt, locked; built-ins and other circles' prompts are refused."""
    current = Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
    if current is None:
        raise CircleRuleError(_("That prompt has already been removed."), "gone")
    if current.circle_id is None:
        raise CircleRuleError(
            _(
                "The built-in prompts are shared by every circle, so they can't be changed "
                "here. You can add your own version to this circle's library instead."
            ),
            "built_in",
        )
    if current.circle_id != circle.pk:
        raise PermissionDenied(_("Only the circle's facilitators can do that."))
    return current


def _ensure_new(*, circle: Circle, text: str, exclude: Prompt | None = None) -> None:
    """Called with the circle row locked, so a double-tapped button adds one prompt."""
    same = Prompt.objects.filter(library_filter(circle), text__iexact=text)
    if exclude is not None:
        same = same.exclude(pk=exclude.pk)
    if same.exists():
        raise CircleRuleError(
            _("That prompt is already in the circle's library, word for word."), "text"
        )


@transaction.atomic
def prompt_create(
    *, actor: Membership, circle: Circle, text: str, strategy: str, phase: str, depth: int
) -> Prompt:
    """A prompt of the circle's own, for its kind only."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    data = _clean_prompt(text=text, strategy=strategy, phase=phase, depth=depth)
    _ensure_new(circle=circle, text=data["text"])
    if Prompt.objects.filter(circle=circle).count() >= MAX_OWN_PROMPTS:
        raise CircleRuleError(
            _(
                "The circle's own library holds at most %(max)s prompts. Please delete one "
                "the circle no longer uses, then add this one."
            )
            % {"max": MAX_OWN_PROMPTS},
            "too_many_prompts",
        )
    return Prompt.objects.create(
        key=None,
        kind=circle.kind,
        source=own_prompt_source(),
        circle=circle,
        created_by_id=actor.pk,
        **data,
    )


@transaction.atomic
def prompt_update(
    *,
    actor: Membership,
    circle: Circle,
    prompt: Prompt,
    text: str,
    strategy: str,
    phase: str,
    depth: int,
) -> Prompt:
    """Rounds already held keep the words they were asked with (Round.prompt_text)."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    prompt = _own_prompt(circle=circle, prompt=prompt)
    data = _clean_prompt(text=text, strategy=strategy, phase=phase, depth=depth)
    _ensure_new(circle=circle, text=data["text"], exclude=prompt)
    for name, value in data.items():
        setattr(prompt, name, value)
    prompt.save(update_fields=list(data))
    return prompt


@transaction.atomic
def prompt_delete(*, actor: Membership, circle: Circle, prompt: Prompt) -> int:
    """Deletes the circle's own prompt; returns how many of its agenda steps used it
    (they keep their place, now without a prompt)."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    prompt = _own_prompt(circle=circle, prompt=prompt)
    steps = ScriptStep.objects.filter(prompt=prompt).count()
    prompt.delete()
    return steps


# The circle's own agenda scripts ----------------------------------------------------------


def _own_script(*, circle: Circle, script: Script) -> Script:
    current = Script.objects.filter(pk=script.pk).first()
    if current is None:
        raise CircleRuleError(_("That agenda has already been removed."), "gone")
    if current.circle_id is None:
        raise CircleRuleError(
            _(
                "The built-in agendas are shared by every circle, so they stay as they are. "
                "Use “Copy to edit” to make this circle's own version, then change that."
            ),
            "built_in",
        )
    if current.circle_id != circle.pk:
        raise PermissionDenied(_("Only the circle's facilitators can do that."))
    return current


def _own_step(*, circle: Circle, step: ScriptStep) -> ScriptStep:
    current = ScriptStep.objects.select_related("script").filter(pk=step.pk).first()
    if current is None:
        raise CircleRuleError(_("That step has already been removed."), "gone")
    current.script = _own_script(circle=circle, script=current.script)
    return current


def _clean_step(
    *,
    circle: Circle,
    title: str,
    purpose: str,
    notes: str,
    minutes: int,
    round_kind: str,
    prompt_id: int | None,
) -> dict:
    for field, value in (("title", title), ("purpose", purpose), ("notes", notes)):
        _refuse_unprintable(field, value)
    title = " ".join((title or "").split())
    purpose = " ".join((purpose or "").split())
    notes = (notes or "").strip()
    if not title:
        raise CircleRuleError(_("Please give the step a short title."), "title")
    if len(title) > STEP_TITLE_MAX:
        raise CircleRuleError(
            _("Please keep the title to %(max)s characters.") % {"max": STEP_TITLE_MAX}, "title"
        )
    if not purpose:
        raise CircleRuleError(
            _(
                "Please say in a sentence why this step is here. Members see it, so they know "
                "what's coming and why."
            ),
            "purpose",
        )
    if len(purpose) > STEP_PURPOSE_MAX:
        raise CircleRuleError(
            _("Please keep the purpose to %(max)s characters.") % {"max": STEP_PURPOSE_MAX},
            "purpose",
        )
    if not isinstance(minutes, int) or not 1 <= minutes <= STEP_MINUTES_MAX:
        raise CircleRuleError(
            _("A step takes between 1 and %(max)s minutes.") % {"max": STEP_MINUTES_MAX},
            "minutes",
        )
    if len(notes) > STEP_NOTES_MAX:
        raise CircleRuleError(
            _("Please keep the notes to %(max)s characters.") % {"max": STEP_NOTES_MAX}, "notes"
        )
    if round_kind and round_kind not in RoundKind.values:
        raise CircleRuleError(_("Please pick a kind of round, or none."), "round_kind")
    prompt = None
    if prompt_id is not None:
        prompt = Prompt.objects.filter(library_filter(circle), pk=prompt_id).first()
        if prompt is None:
            raise CircleRuleError(
                _("That prompt isn't in this circle's library. Please pick another."), "prompt"
            )
    return {
        "title": title,
        "purpose": purpose,
        "notes": notes,
        "minutes": minutes,
        "round_kind": round_kind or "",
        "prompt": prompt,
    }


@transaction.atomic
def script_rename(*, actor: Membership, circle: Circle, script: Script, name: str) -> Script:
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    script = _own_script(circle=circle, script=script)
    _refuse_unprintable("name", name)
    name = " ".join((name or "").split())
    if not name:
        raise CircleRuleError(_("Please give the agenda a name."), "name")
    if len(name) > SCRIPT_NAME_MAX:
        raise CircleRuleError(
            _("Please keep the name to %(max)s characters.") % {"max": SCRIPT_NAME_MAX}, "name"
        )
    script.name = name
    script.save(update_fields=["name"])
    return script


@transaction.atomic
def script_step_add(
    *,
    actor: Membership,
    circle: Circle,
    script: Script,
    title: str,
    purpose: str,
    notes: str = "",
    minutes: int,
    round_kind: str = "",
    prompt_id: int | None = None,
) -> ScriptStep:
    """A new step at the end of the circle's own script."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    script = _own_script(circle=circle, script=script)
    data = _clean_step(
        circle=circle,
        title=title,
        purpose=purpose,
        notes=notes,
        minutes=minutes,
        round_kind=round_kind,
        prompt_id=prompt_id,
    )
    if script.steps.count() >= MAX_STEPS:
        raise CircleRuleError(
            _("An agenda holds at most %(max)s steps. Perhaps two of them could become one?")
            % {"max": MAX_STEPS},
            "too_many_steps",
        )
    _ensure_notes_fit(script=script, notes=data["notes"])
    last = script.steps.aggregate(last=Max("position"))["last"] or 0
    return ScriptStep.objects.create(script=script, position=last + 1, **data)


@transaction.atomic
def script_step_update(
    *,
    actor: Membership,
    circle: Circle,
    step: ScriptStep,
    title: str,
    purpose: str,
    notes: str = "",
    minutes: int,
    round_kind: str = "",
    prompt_id: int | None = None,
) -> ScriptStep:
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    step = _own_step(circle=circle, step=step)
    data = _clean_step(
        circle=circle,
        title=title,
        purpose=purpose,
        notes=notes,
        minutes=minutes,
        round_kind=round_kind,
        prompt_id=prompt_id,
    )
    _ensure_notes_fit(script=step.script, notes=data["notes"], replacing=step)
    for name, value in data.items():
        setattr(step, name, value)
    step.save(update_fields=list(data))
    return step


def _ensure_notes_fit(*, script: Script, notes: str, replacing: ScriptStep | None = None) -> None:
    """All the agenda's notes together stay within AGENDA_NOTES_MAX. Called with the
    circle row locked, so two editors can't each add the last free characters."""
    others = script.steps.exclude(pk=replacing.pk) if replacing else script.steps.all()
    used = sum(len(n) for n in others.values_list("notes", flat=True))
    if used + len(notes) > AGENDA_NOTES_MAX:
        raise CircleRuleError(
            _(
                "This agenda's notes are full: all its steps together hold at most %(max)s "
                "characters of notes, and the other steps use %(used)s. Please shorten these "
                "notes, or another step's."
            )
            % {"max": f"{AGENDA_NOTES_MAX:,}", "used": f"{used:,}"},
            "notes",
        )


@transaction.atomic
def script_step_delete(*, actor: Membership, circle: Circle, step: ScriptStep) -> None:
    """Later steps move up one place. A meeting on this step simply has no current step."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    step = _own_step(circle=circle, step=step)
    if step.script.steps.count() <= 1:
        raise CircleRuleError(
            _("An agenda needs at least one step. Change this one instead of removing it."),
            "last_step",
        )
    later = ScriptStep.objects.filter(script_id=step.script_id, position__gt=step.position)
    step.delete()
    later.update(position=F("position") + _PARKING)
    ScriptStep.objects.filter(script_id=step.script_id, position__gt=_PARKING).update(
        position=F("position") - _PARKING - 1
    )


@transaction.atomic
def script_step_move(
    *, actor: Membership, circle: Circle, step: ScriptStep, direction: str
) -> ScriptStep:
    """Swap the step with its neighbour; at either end nothing changes."""
    circle = lock_circle_as_facilitator(actor=actor, circle=circle)
    step = _own_step(circle=circle, step=step)
    if direction not in ("up", "down"):
        raise CircleRuleError(_("A step moves up or down."), "direction")
    siblings = ScriptStep.objects.filter(script_id=step.script_id)
    if direction == "up":
        neighbour = siblings.filter(position__lt=step.position).order_by("-position").first()
    else:
        neighbour = siblings.filter(position__gt=step.position).order_by("position").first()
    if neighbour is None:
        return step
    mine, theirs = step.position, neighbour.position
    siblings.filter(pk=step.pk).update(position=mine + _PARKING)
    siblings.filter(pk=neighbour.pk).update(position=mine)
    siblings.filter(pk=step.pk).update(position=theirs)
    step.position = theirs
    return step
