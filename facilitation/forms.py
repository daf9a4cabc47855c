"""Forms for the library pages only parse and validate input; facilitation.library_services
and facilitation.scripts apply the rules and write. Nothing here calls save()."""

from typing import cast

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from accounts.text import PrintableTextForm
from groups.services import CircleRuleError

from .library_services import (
    AGENDA_NOTES_MAX,
    PROMPT_TEXT_MAX,
    SCRIPT_NAME_MAX,
    STEP_MINUTES_MAX,
    STEP_NOTES_MAX,
    STEP_PURPOSE_MAX,
    STEP_TITLE_MAX,
)
from .models import Phase, RoundKind
from .strategies import SOURCES, STRATEGIES

DEPTH_CHOICES = [
    (1, _("1 · thoughts and facts")),
    (2, _("2 · meaning")),
    (3, _("3 · feelings and the body")),
]


def strategy_choices() -> list:
    """Strategies grouped by the article they come from."""
    return [
        (
            source.citation,
            [(s.key, s.title) for s in STRATEGIES.values() if s.source_key == key],
        )
        for key, source in SOURCES.items()
    ]


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Put a service's refusal on the field it concerns (its code names the field), or
    at the top of the form."""
    code = getattr(error, "code", None)
    name = code if isinstance(error, CircleRuleError) and code in form.fields else None
    form.add_error(name, error)


class LibraryFilterForm(forms.Form):
    """The search box and filters above the prompt library (GET)."""

    q = forms.CharField(
        label=_("Words in the prompt"),
        max_length=100,
        required=False,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    phase = forms.ChoiceField(
        label=_("Part of the meeting"),
        required=False,
        choices=[("", _("Any part")), *Phase.choices],
    )
    depth = forms.TypedChoiceField(
        label=_("Depth"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any depth")), *DEPTH_CHOICES],
    )
    strategy = forms.ChoiceField(label=_("Strategy"), required=False)
    source = forms.ChoiceField(
        label=_("Written by"),
        required=False,
        choices=[
            ("", _("Anyone")),
            ("own", _("This circle's facilitators")),
            ("built_in", _("Built in to Hearth")),
        ],
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["strategy"]).choices = [
            ("", _("Any strategy")),
            *strategy_choices(),
        ]


class PromptForm(PrintableTextForm, forms.Form):
    text = forms.CharField(
        label=_("Prompt"),
        max_length=PROMPT_TEXT_MAX,
        error_messages={"required": _("Please write the prompt as you would say it aloud.")},
        help_text=_(
            "Write it the way you would say it aloud. Short, plain questions are easiest "
            "to answer; “pass” is always a fine answer."
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    strategy = forms.ChoiceField(
        label=_("Strategy"),
        error_messages={"required": _("Please pick the strategy this prompt draws on.")},
        help_text=_("The idea it draws on, so other facilitators can see why it's here."),
    )
    phase = forms.ChoiceField(label=_("Part of the meeting"), choices=Phase.choices)
    depth = forms.TypedChoiceField(
        label=_("Depth"),
        coerce=int,
        choices=DEPTH_CHOICES,
        help_text=_("Start light: facts and thoughts are easier doors than feelings."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["strategy"]).choices = [
            ("", _("Choose a strategy")),
            *strategy_choices(),
        ]

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in ("text", "strategy", "phase", "depth")}


class ScriptNameForm(PrintableTextForm, forms.Form):
    name = forms.CharField(
        label=_("Name of this agenda"),
        max_length=SCRIPT_NAME_MAX,
        error_messages={"required": _("Please give the agenda a name.")},
    )


class StepForm(PrintableTextForm, forms.Form):
    """One agenda step. `prompt_choices` (facilitation.selectors.prompt_choices) is read
    once per page and shared by every step form on it."""

    title = forms.CharField(
        label=_("Title"),
        max_length=STEP_TITLE_MAX,
        error_messages={"required": _("Please give the step a short title.")},
    )
    purpose = forms.CharField(
        label=_("Purpose"),
        max_length=STEP_PURPOSE_MAX,
        error_messages={"required": _("Please say in a sentence why this step is here.")},
        help_text=_("Members see this: one sentence on why the step is here."),
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    notes = forms.CharField(
        label=_("Private notes"),
        required=False,
        max_length=STEP_NOTES_MAX,
        help_text=format_lazy(
            _(
                "Only facilitators see these. All the steps' notes together: at most "
                "{max} characters."
            ),
            max=f"{AGENDA_NOTES_MAX:,}",
        ),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    minutes = forms.IntegerField(
        label=_("Minutes"),
        min_value=1,
        max_value=STEP_MINUTES_MAX,
        error_messages={
            key: format_lazy(
                _("Please give the step between 1 and {max} minutes."), max=STEP_MINUTES_MAX
            )
            for key in ("required", "invalid", "min_value", "max_value")
        },
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    round_kind = forms.ChoiceField(
        label=_("Round"),
        required=False,
        choices=[("", _("No round")), *RoundKind.choices],
        help_text=_("A round gives everyone a turn, in order."),
    )
    prompt = forms.TypedChoiceField(
        label=_("Prompt"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("From this circle's library."),
    )

    def __init__(self, *args, prompt_choices: list, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["prompt"]).choices = [
            ("", _("No prompt")),
            *prompt_choices,
        ]

    def service_fields(self) -> dict:
        data = self.cleaned_data
        return {
            "title": data["title"],
            "purpose": data["purpose"],
            "notes": data["notes"],
            "minutes": data["minutes"],
            "round_kind": data["round_kind"],
            "prompt_id": data["prompt"],
        }

    @classmethod
    def for_step(cls, step, *, prompt_choices: list) -> "StepForm":
        return cls(
            prefix=f"step-{step.pk}",
            prompt_choices=prompt_choices,
            initial={
                "title": step.title,
                "purpose": step.purpose,
                "notes": step.notes,
                "minutes": step.minutes,
                "round_kind": step.round_kind,
                "prompt": step.prompt_id,
            },
        )
