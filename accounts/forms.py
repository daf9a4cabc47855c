import zoneinfo

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import User


def time_zone_choices(*, include: str = "") -> list[tuple[str, str]]:
    """Region/City zones people recognise, plus UTC (and the current value, if unusual)."""
    names = {
        name
        for name in zoneinfo.available_timezones()
        if "/" in name and not name.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    }
    names.add("UTC")
    if include:
        names.add(include)
    return [(name, name.replace("_", " ")) for name in sorted(names)]


class ProfileForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["time_zone"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.time_zone if self.instance else ""
        self.fields["time_zone"] = forms.ChoiceField(
            label=_("Your time zone"),
            required=False,
            choices=[("", _("Each circle's own time zone")), *time_zone_choices(include=current)],
            help_text=_(
                "Meeting times are shown on this clock. Leave it on “Each circle's own” "
                "to see them as the circle's facilitators set them."
            ),
        )

    def save(self, commit: bool = True) -> User:
        # Only the one field this page is about: never write back a stale copy of the
        # rest of the row (last_login, permissions, ...).
        if commit:
            self.instance.save(update_fields=["time_zone"])
        return self.instance
