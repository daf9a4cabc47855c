"""The one rule for text people write, in the room and on the pages.

Text is refused when the database cannot keep it (U+0000, half of a surrogate pair) or
when it holds invisible control characters (C0 and DEL, except tab and line breaks):
nobody types them, they show as nothing on a screen, and each one costs six bytes as a
JSON escape, so they would also let a short text weigh more than its length says.
"""

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

UNPRINTABLE_MESSAGE = _(
    "There is a character here we can't keep (an invisible control character, or half "
    "of an emoji). Please take it out and try again."
)


def printable(value: str) -> bool:
    """False for text with U+0000, another control character (tab, newline and carriage
    return are fine) or a lone surrogate (a broken emoji, or a JSON "\\ud800" escape)."""
    return _UNPRINTABLE.search(value) is None


def validate_printable(value: str) -> None:
    if isinstance(value, str) and not printable(value):
        raise ValidationError(UNPRINTABLE_MESSAGE, code="unprintable")


class PrintableTextForm(forms.BaseForm):
    """Mixed into a form: every text field refuses what `printable` refuses."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                field.validators.append(validate_printable)
