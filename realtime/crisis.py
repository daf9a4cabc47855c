"""Crisis language: a message that sounds like self-harm or suicide sends the
facilitators a private alert and shows the author help lines. Nothing is hidden from
the group; this only makes sure a person is seen.

Deliberately simple phrase matching: it errs towards alerting (a facilitator can
dismiss a false alarm), and it never blocks or rewrites a message.
"""

import re

CATEGORIES: dict[str, tuple[str, ...]] = {
    "suicide": (
        r"\bkill(ing)?\s+my\s*self\b",
        r"\bsuicid(e|al)\b",
        r"\bend(ing)?\s+(it\s+all|my\s+life|things)\b",
        r"\btake\s+my\s+(own\s+)?life\b",
        r"\b(want|wanted|wanting)\s+to\s+die\b",
        r"\bbetter\s+off\s+(dead|without\s+me)\b",
        r"\bno\s+(reason|point)\s+(to|in)\s+(live|living|go(ing)?\s+on)\b",
        r"\bdon'?t\s+want\s+to\s+(be\s+here|live|wake\s+up)\b",
    ),
    "self_harm": (
        r"\b(hurt|hurting|harm|harming|cut|cutting)\s+my\s*self\b",
        r"\bself[-\s]?harm",
    ),
}

_PATTERNS = [
    (category, re.compile(pattern, re.IGNORECASE))
    for category, patterns in CATEGORIES.items()
    for pattern in patterns
]


def crisis_category(text: str) -> str | None:
    """The first crisis category the text matches, or None."""
    normalised = text.replace("’", "'")
    for category, pattern in _PATTERNS:
        if pattern.search(normalised):
            return category
    return None
