"""Feeling words for a check-in turn: five plain families many men's circles use,
each opening into finer words. A speaker picks a few, plus a 1–10 "weather"."""

from django.utils.translation import gettext_lazy as _

FEELING_FAMILIES: dict[str, tuple[str, ...]] = {
    "mad": ("annoyed", "frustrated", "irritated", "resentful", "angry", "furious"),
    "sad": ("low", "tired", "lonely", "disappointed", "hurt", "grieving"),
    "glad": ("calm", "relieved", "hopeful", "grateful", "proud", "content"),
    "afraid": ("uneasy", "worried", "anxious", "stressed", "overwhelmed", "scared"),
    "ashamed": ("awkward", "embarrassed", "guilty", "exposed", "small", "not enough"),
}

FEELING_WORDS = frozenset(FEELING_FAMILIES) | frozenset(
    word for words in FEELING_FAMILIES.values() for word in words
)

WEATHER_HELP = _("1 is a storm, 10 is clear skies.")


def clean_feeling_words(words: list[str]) -> list[str]:
    """Known words only, lower-cased, each once, in the order given."""
    seen: list[str] = []
    for word in words:
        word = word.strip().lower()
        if word not in FEELING_WORDS:
            raise ValueError(word)
        if word not in seen:
            seen.append(word)
    return seen
