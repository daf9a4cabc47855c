"""The built-in library in the database: the data migration loads it, load_library is
idempotent and leaves circles' own prompts and scripts alone, and the management
command runs it."""

import io
from dataclasses import replace

import pytest
from django.core.management import call_command

from facilitation import library
from facilitation.loading import load_library
from facilitation.models import Prompt, Script, ScriptStep
from tests import factories

pytestmark = pytest.mark.django_db


def built_in_rows() -> tuple:
    prompts = sorted(
        Prompt.objects.filter(circle__isnull=True).values_list(
            "pk", "key", "text", "strategy", "kind", "phase", "depth", "source"
        )
    )
    scripts = sorted(
        Script.objects.filter(circle__isnull=True).values_list("pk", "key", "name", "kind")
    )
    steps = sorted(
        ScriptStep.objects.filter(script__circle__isnull=True).values_list(
            "pk",
            "script__key",
            "position",
            "title",
            "purpose",
            "notes",
            "minutes",
            "round_kind",
            "prompt__key",
        )
    )
    return prompts, scripts, steps


def load() -> dict:
    return load_library(Prompt=Prompt, Script=Script, ScriptStep=ScriptStep)


def test_the_migration_loaded_the_built_in_library():
    files = library.load_prompts()
    assert len(files) >= 80
    assert Prompt.objects.filter(circle__isnull=True).count() == len(files)
    stored = {p.key: p for p in Prompt.objects.filter(circle__isnull=True)}
    for data in files:
        prompt = stored[data.key]
        assert (prompt.text, prompt.strategy, prompt.kind, prompt.phase, prompt.depth) == (
            data.text,
            data.strategy,
            data.kind,
            data.phase,
            data.depth,
        )
        assert prompt.source == data.source
    for kind in ("men", "partners", "both"):
        assert Prompt.objects.filter(circle__isnull=True, kind=kind).exists()


def test_the_three_scripts_and_their_minutes():
    first_meeting = next(s for s in library.load_scripts() if s.key == "first_meeting")

    scripts = {s.key: s for s in Script.objects.filter(circle__isnull=True)}

    assert set(scripts) == {"men_weekly", "partner_weekly", "first_meeting"}
    assert scripts["men_weekly"].kind == "men"
    assert scripts["partner_weekly"].kind == "partners"
    assert scripts["men_weekly"].total_minutes == 90
    assert scripts["partner_weekly"].total_minutes == 75
    assert scripts["first_meeting"].total_minutes == first_meeting.total_minutes
    assert scripts["first_meeting"].steps.count() == len(first_meeting.steps)
    positions = list(scripts["men_weekly"].steps.values_list("position", flat=True))
    assert positions == list(range(1, len(positions) + 1))


def test_script_steps_link_their_prompts():
    files = library.load_scripts()
    for data in files:
        stored = Script.objects.get(key=data.key).steps.order_by("position")
        assert [s.prompt.key if s.prompt else None for s in stored] == [
            step.prompt for step in data.steps
        ]
        assert [s.round_kind or None for s in stored] == [step.round_kind for step in data.steps]


def test_load_library_twice_changes_nothing():
    before = built_in_rows()

    counts = load()
    again = load()

    assert counts == again == {"prompts": len(before[0]), "scripts": len(before[1])}
    assert built_in_rows() == before


def test_load_library_leaves_circles_own_prompts_and_scripts_alone(circle, facilitator):
    from facilitation.scripts import script_copy

    own = Prompt.objects.create(
        text="Our circle's own question?",
        strategy="small_wins",
        kind="men",
        phase="sharing",
        depth=1,
        circle=circle,
    )
    copy = script_copy(
        actor=facilitator, circle=circle, script=Script.objects.get(key="men_weekly")
    )
    copy_steps = list(copy.steps.values_list("pk", "title"))

    load()

    assert Prompt.objects.get(pk=own.pk).text == "Our circle's own question?"
    assert list(Script.objects.get(pk=copy.pk).steps.values_list("pk", "title")) == copy_steps


def test_load_library_restores_an_edited_built_in():
    prompt = Prompt.objects.filter(circle__isnull=True).first()
    original = prompt.text
    Prompt.objects.filter(pk=prompt.pk).update(text="Vandalised.")
    ScriptStep.objects.filter(script__key="men_weekly").delete()

    load()

    assert Prompt.objects.get(pk=prompt.pk).text == original
    assert Script.objects.get(key="men_weekly").total_minutes == 90


def test_the_built_in_script_keeps_its_identity_across_reloads():
    """Circles point at built-in scripts (default agenda, meetings): a reload must
    update them in place, not replace them."""
    circle = factories.make_circle()
    script = Script.objects.get(key="first_meeting")
    circle.default_script = script
    circle.save(update_fields=["default_script"])

    load()

    circle.refresh_from_db()
    assert circle.default_script_id == script.pk


def test_a_reload_keeps_step_ids_so_a_live_meeting_keeps_its_step():
    step = Script.objects.get(key="men_weekly").steps.order_by("position")[2]
    meeting = factories.make_meeting(factories.make_circle(), script=step.script, current_step=step)
    step_ids = list(ScriptStep.objects.order_by("pk").values_list("pk", flat=True))

    load()

    meeting.refresh_from_db()
    assert meeting.current_step_id == step.pk
    assert list(ScriptStep.objects.order_by("pk").values_list("pk", flat=True)) == step_ids


def test_a_step_dropped_from_the_data_file_is_dropped_on_reload(monkeypatch):
    real = library.load_scripts

    def trimmed(*args, **kwargs):
        scripts = real(*args, **kwargs)
        return [replace(s, steps=s.steps[:2]) if s.key == "men_weekly" else s for s in scripts]

    monkeypatch.setattr(library, "load_scripts", trimmed)
    kept = list(Script.objects.get(key="men_weekly").steps.order_by("position")[:2])

    load()

    steps = list(Script.objects.get(key="men_weekly").steps.order_by("position"))
    assert [s.pk for s in steps] == [s.pk for s in kept]
    assert Script.objects.get(key="partner_weekly").total_minutes == 75


def test_manage_py_load_library():
    before = built_in_rows()
    out = io.StringIO()

    call_command("load_library", stdout=out)

    assert out.getvalue().strip() == (
        f"Loaded {len(before[0])} prompts and {len(before[1])} scripts."
    )
    assert built_in_rows() == before
