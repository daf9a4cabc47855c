"""Forms only parse and validate input; the services in groups.services apply the
rules and write. Nothing here calls save() on a model."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from accounts.forms import time_zone_choices
from accounts.text import PrintableTextForm

from .models import Circle, Role
from .services import CIRCLE_FIELDS, CircleRuleError

# Which form field a service's error code belongs to; anything else is about the whole
# form and shows at the top.
FIELD_FOR_CODE = {
    "alias": "alias",
    "alias_taken": "alias",
    "kind_locked": "kind",
    "capacity_below_members": "capacity",
    "role": "role",
}


def add_service_error(form: forms.BaseForm, error: ValidationError) -> None:
    """Put a service's refusal on the form, on the field it concerns when there is one."""
    if hasattr(error, "error_dict"):
        for name, errors in error.error_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return
    code = getattr(error, "code", None)
    field = FIELD_FOR_CODE.get(code) if isinstance(error, CircleRuleError) and code else None
    form.add_error(field if field in form.fields else None, error)


class JoinForm(PrintableTextForm, forms.Form):
    alias = forms.CharField(
        label=_("What should the circle call you?"),
        max_length=40,
        help_text=_(
            "A first name or any name you like; it doesn't have to be your real one. "
            "Nobody in the circle sees your email address."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "nickname"}),
    )
    intention = forms.CharField(
        label=_("What do you want from this circle?"),
        max_length=1000,
        required=False,
        help_text=_(
            "In your own words, as short as you like. “I don't know yet” is a fine answer. "
            "Only you and the facilitators see it."
        ),
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class AgreementsForm(forms.Form):
    accept = forms.BooleanField(
        label=_("I have read these agreements and I will keep them."),
        error_messages={"required": _("Please tick the box to accept the agreements.")},
    )


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class CircleForm(PrintableTextForm, forms.ModelForm):
    """Validates a circle's fields; circle_create / circle_update do the writing."""

    class Meta:
        model = Circle
        fields = list(CIRCLE_FIELDS)
        labels = {
            "name": _("Name of the circle"),
            "kind": _("Who is it for?"),
            "start_time": _("Start time"),
        }
        help_texts = {
            "kind": _(
                "Men's circles and partner circles are kept completely separate: nobody "
                "can be a member of both kinds."
            ),
            "description": _(
                "A few plain sentences for the directory: who it's for, what happens."
            ),
            "start_time": _("On the circle's own clock, in the time zone below."),
            "agreements": _(
                "One agreement per line. Leave it empty to use Hearth's standard agreements. "
                "If you change them, every member accepts them again before the next meeting."
            ),
        }
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "description": forms.Textarea(attrs={"rows": 4}),
            "agreements": forms.Textarea(attrs={"rows": 8}),
            "call_link": forms.URLInput(attrs={"placeholder": "https://"}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.time_zone if self.instance and self.instance.pk else ""
        self.fields["time_zone"] = forms.ChoiceField(
            label=_("Time zone"),
            choices=time_zone_choices(include=current),
            initial=self.fields["time_zone"].initial,
            help_text=_("Where the circle's clock is. Each member sees times in their own zone."),
        )
        self.fields["agreements"].required = False

    def service_fields(self) -> dict:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class CircleCreateForm(CircleForm):
    alias = forms.CharField(
        label=_("Your name in the circle"),
        max_length=40,
        help_text=_("What the members will call you. You become the circle's first facilitator."),
    )

    class Meta(CircleForm.Meta):
        pass

    field_order = ["alias", *CircleForm.Meta.fields]
