"""Reads for the facilitators' library pages: a fixed, small number of queries per page,
whatever the number of prompts, scripts or steps.

A circle only ever sees its own library: built-ins for its kind (or "both") and what its
facilitators wrote or copied. Anything else answers 404, exactly like a missing row.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Case, IntegerField, Max, Prefetch, Q, Value, When
from django.http import Http404

from groups.models import Circle

from .library_services import library_filter
from .models import Phase, Prompt, Script, ScriptStep
from .scripts import scripts_for
from .services import BUILT_IN_SCRIPT_FOR_KIND
from .strategies import STRATEGIES

# The order of a meeting, not the alphabet.
PHASE_ORDER = [Phase.OPENING, Phase.CHECK_IN, Phase.SHARING, Phase.CHECK_OUT]

_phase_rank = Case(
    *(When(phase=phase, then=Value(rank)) for rank, phase in enumerate(PHASE_ORDER)),
    default=Value(len(PHASE_ORDER)),
    output_field=IntegerField(),
)


# Prompts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryPage:
    prompts: Sequence[Prompt]
    total: int
    filtered: bool


def prompt_library(
    *,
    circle: Circle,
    q: str = "",
    phase: str = "",
    depth: int | None = None,
    strategy: str = "",
    source: str = "",
) -> LibraryPage:
    """Two queries: the matching prompts, each with when it was last used in this circle
    (`last_used`, None if never), and how many the whole library holds."""
    library = Prompt.objects.filter(library_filter(circle))
    prompts = library
    if q:
        prompts = prompts.filter(text__icontains=q)
    if phase:
        prompts = prompts.filter(phase=phase)
    if depth:
        prompts = prompts.filter(depth=depth)
    if strategy:
        prompts = prompts.filter(strategy=strategy)
    if source == "own":
        prompts = prompts.filter(circle_id=circle.pk)
    elif source == "built_in":
        prompts = prompts.filter(circle__isnull=True)
    rows = list(
        prompts.annotate(
            last_used=Max("uses__used_at", filter=Q(uses__circle_id=circle.pk)),
            phase_rank=_phase_rank,
        ).order_by("phase_rank", "depth", "circle_id", "id")
    )
    for prompt in rows:
        prompt.strategy_info = STRATEGIES.get(prompt.strategy)  # type: ignore[attr-defined]
    filtered = bool(q or phase or depth or strategy or source)
    return LibraryPage(
        prompts=rows,
        total=library.count() if filtered else len(rows),
        filtered=filtered,
    )


def library_prompt(*, circle: Circle, prompt_id: int) -> Prompt:
    """A prompt in this circle's library (built-in or its own), else 404."""
    prompt = Prompt.objects.filter(library_filter(circle), pk=prompt_id).first()
    if prompt is None:
        raise Http404("No such prompt.")
    return prompt


def prompt_choices(*, circle: Circle) -> list[tuple[str, list[tuple[int, str]]]]:
    """The circle's library as grouped <select> choices, read once for all the step
    forms on a page."""
    rows = (
        Prompt.objects.filter(library_filter(circle))
        .annotate(phase_rank=_phase_rank)
        .order_by("phase_rank", "depth", "circle_id", "id")
        .values_list("pk", "text", "phase", "depth")
    )
    labels = dict(Phase.choices)
    groups: dict[str, list[tuple[int, str]]] = {}
    for pk, text, phase, depth in rows:
        short = text if len(text) <= 90 else f"{text[:87].rstrip()}…"
        groups.setdefault(str(labels.get(phase, phase)), []).append((pk, f"{depth} · {short}"))
    return list(groups.items())


# Agenda scripts ----------------------------------------------------------------------------


def _with_steps(scripts):
    return scripts.prefetch_related(
        Prefetch(
            "steps",
            queryset=ScriptStep.objects.select_related("prompt").order_by("position"),
        )
    )


def default_script_id(*, circle: Circle, scripts: list[Script]) -> int | None:
    """The agenda the circle's next meetings use: its pick, else the built-in weekly
    script for its kind (found among `scripts`, no query)."""
    if circle.default_script_id is not None:
        return circle.default_script_id
    key = BUILT_IN_SCRIPT_FOR_KIND.get(circle.kind)
    return next((s.pk for s in scripts if s.circle_id is None and s.key == key), None)


def agenda_scripts(*, circle: Circle) -> list[Script]:
    """Two queries: the agendas the circle may use, with their steps and prompts. The
    default comes first, then the circle's own, then the built-ins; each is marked
    `is_default` and `own`."""
    scripts = list(_with_steps(scripts_for(circle=circle)))
    default_id = default_script_id(circle=circle, scripts=scripts)
    for script in scripts:
        script.is_default = script.pk == default_id
        script.own = script.circle_id is not None
    scripts.sort(key=lambda s: (not s.is_default, not s.own, s.name.lower(), s.pk))
    return scripts


def usable_script(*, circle: Circle, script_id: int) -> Script:
    """An agenda this circle may use (a built-in for its kind or its own), else 404."""
    script = scripts_for(circle=circle).filter(pk=script_id).first()
    if script is None:
        raise Http404("No such agenda.")
    return script


def own_script(*, circle: Circle, script_id: int, with_steps: bool = True) -> Script:
    """One of the circle's own agendas (with its steps, for its page), else 404:
    built-ins are copied, never edited."""
    scripts = Script.objects.filter(circle=circle, pk=script_id)
    script = (_with_steps(scripts) if with_steps else scripts).first()
    if script is None:
        raise Http404("No such agenda.")
    script.is_default = circle.default_script_id == script.pk  # type: ignore[union-attr]
    script.own = True  # type: ignore[union-attr]
    return script


def script_step(*, script: Script, step_id: int) -> ScriptStep:
    step = ScriptStep.objects.filter(script=script, pk=step_id).first()
    if step is None:
        raise Http404("No such step.")
    return step
