"""Template helpers for Hearth pages.

Times are always shown in the viewer's zone (their own setting, else the circle's)
and always labelled with the zone's name, so nobody has to guess whose 19:30 it is.
"""

import datetime as dt
import zoneinfo

from django import template
from django.utils import formats
from django.utils.html import format_html
from django.utils.translation import gettext as _

from groups.models import Circle
from groups.selectors import viewer_zone

register = template.Library()

FORMATS = {
    "long": "l j F, H:i",
    "short": "D j M, H:i",
    "date": "l j F",
    "time": "H:i",
}


def _zone_name(context, where) -> str:
    if isinstance(where, Circle):
        return viewer_zone(user=context.get("user"), circle=where)
    if isinstance(where, str) and where:
        return where
    return viewer_zone(user=context.get("user"))


@register.filter
def in_zone(value: dt.datetime | None, zone: str):
    """The same instant on another zone's clock."""
    if value is None:
        return None
    return value.astimezone(zoneinfo.ZoneInfo(zone))


@register.simple_tag(takes_context=True)
def local_time(context, value: dt.datetime | None, where=None, style: str = "long"):
    """`{% local_time meeting.starts_at circle %}` -> "Tuesday 14 January, 19:30 (Europe/London)"
    in a <time> element. `where` is a Circle (viewer's zone, else the circle's) or a zone name.
    `style="weekly"` gives "Every Tuesday at 19:30"."""
    if value is None:
        return ""
    zone = _zone_name(context, where)
    local = value.astimezone(zoneinfo.ZoneInfo(zone))
    if style == "weekly":
        text = _("Every %(day)s at %(time)s") % {
            "day": formats.date_format(local, "l"),
            "time": formats.date_format(local, "H:i"),
        }
    else:
        text = formats.date_format(local, FORMATS.get(style, FORMATS["long"]))
    return format_html(
        '<time datetime="{}">{}</time> <span class="zone">({})</span>',
        value.isoformat(),
        text,
        zone,
    )


@register.simple_tag(takes_context=True)
def zone_for(context, circle: Circle | None = None) -> str:
    return _zone_name(context, circle)


@register.filter
def lines(value: str) -> list[str]:
    """Agreements are stored one per line."""
    return [line.strip() for line in (value or "").splitlines() if line.strip()]
