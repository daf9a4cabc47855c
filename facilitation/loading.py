"""Load the reviewed built-in library (facilitation/data/*.toml) into the database.

Used by the data migration and by `manage.py load_library` after the data files
change. Idempotent: built-ins are matched by their stable `key`; a circle's own
prompts and scripts are never touched.
"""

from . import library


def load_library(*, Prompt, Script, ScriptStep) -> dict[str, int]:
    """Models are passed in so a migration can hand over its historical ones."""
    prompts = library.load_prompts()
    by_key = {}
    for data in prompts:
        prompt, _ = Prompt.objects.update_or_create(
            key=data.key,
            defaults={
                "text": data.text,
                "strategy": data.strategy,
                "kind": data.kind,
                "phase": data.phase,
                "depth": data.depth,
                "source": data.source,
                "circle": None,
            },
        )
        by_key[data.key] = prompt
    scripts = library.load_scripts(prompts=prompts)
    for script_data in scripts:
        script, _ = Script.objects.update_or_create(
            key=script_data.key,
            defaults={
                "name": script_data.name,
                "kind": script_data.kind,
                "description": script_data.description,
            },
        )
        # Steps are updated in place by position, so a reload keeps their ids: a live
        # meeting's current step and the step ids in open consoles stay valid.
        for position, step in enumerate(script_data.steps, start=1):
            ScriptStep.objects.update_or_create(
                script=script,
                position=position,
                defaults={
                    "title": step.title,
                    "purpose": step.purpose,
                    "notes": step.notes,
                    "minutes": step.minutes,
                    "round_kind": step.round_kind or "",
                    "prompt": by_key.get(step.prompt) if step.prompt else None,
                },
            )
        script.steps.filter(position__gt=len(script_data.steps)).delete()
    return {"prompts": len(prompts), "scripts": len(scripts)}
