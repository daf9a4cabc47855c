"""Regions a circle can serve, and the help lines it shows.

Shown to a member whose message matches crisis language, and on every circle page.
Numbers are the national, free, 24/7 lines; keep them checked when editing.
"""

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class HelpLine:
    name: str
    contact: str
    region: str


REGION_CHOICES = [
    ("GB", _("United Kingdom")),
    ("IE", _("Ireland")),
    ("US", _("United States")),
    ("CA", _("Canada")),
    ("AU", _("Australia")),
    ("NZ", _("New Zealand")),
    ("INTL", _("Elsewhere")),
]

HELP_LINES: dict[str, tuple[HelpLine, ...]] = {
    "GB": (
        HelpLine("Samaritans", "Call 116 123 (free, any time)", "GB"),
        HelpLine("Shout", "Text SHOUT to 85258", "GB"),
        HelpLine("Emergency services", "Call 999", "GB"),
    ),
    "IE": (
        HelpLine("Samaritans Ireland", "Call 116 123 (free, any time)", "IE"),
        HelpLine("Text About It", "Text HELLO to 50808", "IE"),
        HelpLine("Emergency services", "Call 112 or 999", "IE"),
    ),
    "US": (
        HelpLine("988 Suicide & Crisis Lifeline", "Call or text 988", "US"),
        HelpLine("Crisis Text Line", "Text HOME to 741741", "US"),
        HelpLine("Emergency services", "Call 911", "US"),
    ),
    "CA": (
        HelpLine("9-8-8 Suicide Crisis Helpline", "Call or text 988", "CA"),
        HelpLine("Emergency services", "Call 911", "CA"),
    ),
    "AU": (
        HelpLine("Lifeline", "Call 13 11 14", "AU"),
        HelpLine("MensLine Australia", "Call 1300 78 99 78", "AU"),
        HelpLine("Emergency services", "Call 000", "AU"),
    ),
    "NZ": (
        HelpLine("Need to talk?", "Call or text 1737", "NZ"),
        HelpLine("Lifeline Aotearoa", "Call 0800 543 354", "NZ"),
        HelpLine("Emergency services", "Call 111", "NZ"),
    ),
    "INTL": (
        HelpLine("Find a Helpline", "findahelpline.com lists free lines by country", "INTL"),
        HelpLine("Emergency services", "Call your local emergency number", "INTL"),
    ),
}


def help_lines_for(region: str) -> tuple[HelpLine, ...]:
    return HELP_LINES.get(region, HELP_LINES["INTL"])
