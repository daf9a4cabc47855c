"""Load and validate the built-in prompts, coaching cards and agenda scripts.

The TOML files in facilitation/data/ are the source of truth; a data migration copies them
into the database. Invariants checked here, so a bad edit fails loudly in tests rather than
in a live circle: every entry names a known strategy and cites that strategy's source,
keys are unique, a script's step minutes add up to its total, and a script only uses
prompts meant for its audience and phase. Plain Python with no Django imports.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from facilitation.strategies import STRATEGIES

KINDS: tuple[str, ...] = ("men", "partners", "both")
PHASES: tuple[str, ...] = ("opening", "check_in", "sharing", "check_out")
DEPTHS: tuple[int, ...] = (1, 2, 3)
SITUATIONS: tuple[str, ...] = (
    "member_passes",
    "passes_twice",
    "deflects",
    "goes_silent",
    "gets_angry",
    "says_dont_know",
    "heavy_share",
    "crisis_alert",
    "me_too_story",
    "first_round",
)
ROUND_KINDS: tuple[str, ...] = ("check_in", "check_out", "topic")

# A round's prompt must be written for that moment of the meeting.
ROUND_KIND_PHASE: dict[str, str] = {
    "check_in": "check_in",
    "check_out": "check_out",
    "topic": "sharing",
}

PROMPT_TEXT_MIN, PROMPT_TEXT_MAX = 10, 300
CARD_TITLE_MAX = 60
CARD_BODY_MAX = 600
CARD_SENTENCES_MIN, CARD_SENTENCES_MAX = 2, 5
PURPOSE_MAX = 200

_KEY = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
# A sentence ends at . ! ? or an ellipsis, possibly inside closing quotes, before a space.
_SENTENCE_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)]*(?=\s|$)")


@dataclass(frozen=True, slots=True)
class PromptData:
    """A question or invitation a facilitator reads aloud."""

    key: str
    text: str
    strategy: str
    kind: str
    phase: str
    depth: int
    source: str


@dataclass(frozen=True, slots=True)
class CardData:
    """Facilitator-only coaching: for a situation, or for a strategy when situation is ""."""

    key: str
    situation: str
    strategy: str
    title: str
    body: str
    kind: str


@dataclass(frozen=True, slots=True)
class StepData:
    """One agenda step; `purpose` is shown to members, `notes` only to facilitators."""

    title: str
    purpose: str
    notes: str
    minutes: int
    round_kind: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptData:
    """A built-in agenda; its steps' minutes add up to total_minutes."""

    key: str
    name: str
    kind: str
    description: str
    total_minutes: int
    steps: tuple[StepData, ...]


def serves(kind: str, audience: str) -> bool:
    """Whether an item of `kind` may be used where `audience` is wanted.

    A "both" item serves every audience; a "both" audience (a script for either circle)
    only takes "both" items, so nothing men-only reaches a partner circle or the reverse.
    """
    return kind == "both" or kind == audience


def count_sentences(text: str) -> int:
    """Rough sentence count, used to keep coaching cards short."""
    return len(_SENTENCE_END.findall(text.strip()))


# --- field helpers -------------------------------------------------------------------


class _Entry:
    """Reads fields from one raw TOML table, naming the entry in every error."""

    def __init__(self, raw: Any, *, what: str, index: int, fields: Iterable[str]) -> None:
        if not isinstance(raw, Mapping):
            raise ValueError(f"{what} #{index}: expected a table, got {type(raw).__name__}")
        self.raw = raw
        key = raw.get("key")
        self.name = f"{what} {key!r}" if isinstance(key, str) and key else f"{what} #{index}"
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            self.fail(f"unknown field(s) {', '.join(unknown)}")

    def fail(self, message: str) -> NoReturn:
        raise ValueError(f"{self.name}: {message}")

    def text(self, field: str, *, allow_empty: bool = False, optional: bool = False) -> str:
        if field not in self.raw:
            if optional:
                return ""
            self.fail(f"missing field {field!r}")
        value = self.raw[field]
        if not isinstance(value, str):
            self.fail(f"{field!r} must be a string, got {type(value).__name__}")
        if value != value.strip():
            self.fail(f"{field!r} has leading or trailing whitespace")
        if not value and not allow_empty:
            self.fail(f"{field!r} must not be empty")
        return value

    def integer(self, field: str) -> int:
        if field not in self.raw:
            self.fail(f"missing field {field!r}")
        value = self.raw[field]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{field!r} must be an integer, got {value!r}")
        return value

    def key(self) -> str:
        value = self.text("key")
        if not _KEY.match(value):
            self.fail(f"key {value!r} must be a lowercase slug (a-z, 0-9, '-' or '_')")
        return value

    def choice(self, field: str, allowed: Sequence[str]) -> str:
        value = self.text(field, allow_empty="" in allowed)
        if value not in allowed:
            self.fail(f"bad {field} {value!r}; expected one of {', '.join(map(repr, allowed))}")
        return value

    def strategy(self) -> str:
        value = self.text("strategy")
        if value not in STRATEGIES:
            self.fail(f"unknown strategy {value!r}")
        return value


def _rows(raw: Any, *, table: str, what: str) -> list[Any]:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{what} file: expected a TOML document")
    unknown = sorted(set(raw) - {table})
    if unknown:
        raise ValueError(f"{what} file: unknown top-level key(s) {', '.join(unknown)}")
    rows = raw.get(table, [])
    if not isinstance(rows, list) or not rows:
        raise ValueError(f"{what} file: expected a non-empty array of [[{table}]] tables")
    return rows


def _check_unique(values: Iterable[tuple[str, str]], *, what: str, field: str) -> None:
    """`values` are (entry name, value) pairs; the same value twice is an error."""
    seen: dict[str, str] = {}
    for name, value in values:
        if value in seen:
            raise ValueError(f"{name}: duplicate {field} (also in {seen[value]})")
        seen[value] = name


def _normalized(text: str) -> str:
    return " ".join(text.casefold().split())


# --- prompts -------------------------------------------------------------------------

_PROMPT_FIELDS = ("key", "text", "strategy", "kind", "phase", "depth", "source")


def parse_prompt(raw: Any, *, index: int = 0) -> PromptData:
    """Validate one [[prompt]] table; raises ValueError naming the entry."""
    entry = _Entry(raw, what="prompt", index=index, fields=_PROMPT_FIELDS)
    key = entry.key()
    text = entry.text("text")
    if not PROMPT_TEXT_MIN <= len(text) <= PROMPT_TEXT_MAX:
        entry.fail(f"text is {len(text)} characters; expected {PROMPT_TEXT_MIN}-{PROMPT_TEXT_MAX}")
    if not text.endswith(("?", ".")):
        entry.fail("text must end with '?' or '.' (a question or an invitation)")
    strategy = entry.strategy()
    kind = entry.choice("kind", KINDS)
    phase = entry.choice("phase", PHASES)
    depth = entry.integer("depth")
    if depth not in DEPTHS:
        entry.fail(f"bad depth {depth!r}; expected 1, 2 or 3")
    source = entry.text("source")
    if source != STRATEGIES[strategy].source:
        entry.fail(
            f"source {source!r} does not match strategy {strategy!r} "
            f"({STRATEGIES[strategy].source!r})"
        )
    return PromptData(
        key=key, text=text, strategy=strategy, kind=kind, phase=phase, depth=depth, source=source
    )


def parse_prompts(rows: Sequence[Any]) -> list[PromptData]:
    """Validate every prompt, then the library as a whole (unique keys and texts)."""
    prompts = [parse_prompt(raw, index=i) for i, raw in enumerate(rows, start=1)]
    _check_unique(((f"prompt {p.key!r}", p.key) for p in prompts), what="prompt", field="key")
    _check_unique(
        ((f"prompt {p.key!r}", _normalized(p.text)) for p in prompts), what="prompt", field="text"
    )
    return prompts


# --- coaching cards ------------------------------------------------------------------

_CARD_FIELDS = ("key", "situation", "strategy", "title", "body", "kind")


def parse_card(raw: Any, *, index: int = 0) -> CardData:
    """Validate one [[card]] table; raises ValueError naming the entry."""
    entry = _Entry(raw, what="card", index=index, fields=_CARD_FIELDS)
    key = entry.key()
    situation = entry.choice("situation", ("", *SITUATIONS))
    strategy = entry.strategy()
    title = entry.text("title")
    if len(title) > CARD_TITLE_MAX:
        entry.fail(f"title is longer than {CARD_TITLE_MAX} characters")
    body = entry.text("body")
    if len(body) > CARD_BODY_MAX:
        entry.fail(f"body is longer than {CARD_BODY_MAX} characters")
    sentences = count_sentences(body)
    if not CARD_SENTENCES_MIN <= sentences <= CARD_SENTENCES_MAX:
        entry.fail(
            f"body has {sentences} sentences; expected {CARD_SENTENCES_MIN}-{CARD_SENTENCES_MAX}"
        )
    kind = entry.choice("kind", KINDS)
    return CardData(
        key=key, situation=situation, strategy=strategy, title=title, body=body, kind=kind
    )


def parse_cards(rows: Sequence[Any]) -> list[CardData]:
    """Validate every card; keys are unique and no two cards answer the same lookup."""
    cards = [parse_card(raw, index=i) for i, raw in enumerate(rows, start=1)]
    _check_unique(((f"card {c.key!r}", c.key) for c in cards), what="card", field="key")
    # The console picks one card per situation (or per strategy) and audience, so two
    # cards whose audiences overlap for the same slot would make that choice arbitrary.
    claimed: dict[tuple[str, str], CardData] = {}
    for card in cards:
        slot = card.situation or f"strategy:{card.strategy}"
        audiences = ("men", "partners") if card.kind == "both" else (card.kind,)
        for audience in audiences:
            other = claimed.get((slot, audience))
            if other is not None:
                raise ValueError(
                    f"card {card.key!r}: {slot!r} for {audience} is already covered by "
                    f"card {other.key!r}"
                )
            claimed[(slot, audience)] = card
    return cards


# --- scripts -------------------------------------------------------------------------

_SCRIPT_FIELDS = ("key", "name", "kind", "description", "total_minutes", "step")
_STEP_FIELDS = ("title", "purpose", "notes", "minutes", "round_kind", "prompt")


def _parse_step(
    raw: Any, *, script: _Entry, kind: str, number: int, prompts: Mapping[str, PromptData]
) -> StepData:
    step = _Entry(raw, what=f"{script.name} step", index=number, fields=_STEP_FIELDS)
    step.name = f"{script.name} step {number}"
    title = step.text("title")
    step.name = f"{script.name} step {number} ({title!r})"
    purpose = step.text("purpose")
    if len(purpose) > PURPOSE_MAX:
        step.fail(f"purpose is longer than {PURPOSE_MAX} characters")
    notes = step.text("notes", allow_empty=True, optional=True)
    minutes = step.integer("minutes")
    if minutes <= 0:
        step.fail(f"minutes must be positive, got {minutes}")
    round_kind: str | None = None
    if "round_kind" in step.raw:
        round_kind = step.choice("round_kind", ROUND_KINDS)
    prompt_key: str | None = None
    if "prompt" in step.raw:
        prompt_key = step.text("prompt")
        prompt = prompts.get(prompt_key)
        if prompt is None:
            step.fail(f"unknown prompt {prompt_key!r}")
        if not serves(prompt.kind, kind):
            step.fail(f"prompt {prompt_key!r} is for {prompt.kind}, but the script is for {kind}")
        if round_kind is not None and prompt.phase != ROUND_KIND_PHASE[round_kind]:
            step.fail(
                f"prompt {prompt_key!r} is a {prompt.phase} prompt, "
                f"but the step runs a {round_kind} round"
            )
    return StepData(
        title=title,
        purpose=purpose,
        notes=notes,
        minutes=minutes,
        round_kind=round_kind,
        prompt=prompt_key,
    )


def parse_script(raw: Any, *, prompts: Mapping[str, PromptData], index: int = 0) -> ScriptData:
    """Validate one [[script]] table against the prompt library (keyed by prompt key)."""
    entry = _Entry(raw, what="script", index=index, fields=_SCRIPT_FIELDS)
    key = entry.key()
    name = entry.text("name")
    kind = entry.choice("kind", KINDS)
    description = entry.text("description")
    total = entry.integer("total_minutes")
    if total <= 0:
        entry.fail(f"total_minutes must be positive, got {total}")
    raw_steps = entry.raw.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        entry.fail("needs at least one [[script.step]]")
    steps = tuple(
        _parse_step(raw_step, script=entry, kind=kind, number=n, prompts=prompts)
        for n, raw_step in enumerate(raw_steps, start=1)
    )
    summed = sum(step.minutes for step in steps)
    if summed != total:
        entry.fail(f"step minutes add up to {summed}, but total_minutes is {total}")
    return ScriptData(
        key=key,
        name=name,
        kind=kind,
        description=description,
        total_minutes=total,
        steps=steps,
    )


def parse_scripts(rows: Sequence[Any], *, prompts: Iterable[PromptData]) -> list[ScriptData]:
    """Validate every script; keys are unique."""
    by_key = {p.key: p for p in prompts}
    scripts = [parse_script(raw, prompts=by_key, index=i) for i, raw in enumerate(rows, start=1)]
    _check_unique(((f"script {s.key!r}", s.key) for s in scripts), what="script", field="key")
    return scripts


# --- loading -------------------------------------------------------------------------


def _read(name: str, path: str | Path | None) -> Any:
    """Parse a data file: the packaged one by default, or `path` (for tests and tools)."""
    if path is None:
        text = resources.files("facilitation").joinpath("data", name).read_text("utf-8")
    else:
        text = Path(path).read_text("utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path or name}: not valid TOML: {exc}") from exc


def load_prompts(path: str | Path | None = None) -> list[PromptData]:
    """The built-in prompt library, validated, in file order."""
    return parse_prompts(_rows(_read("prompts.toml", path), table="prompt", what="prompts"))


def load_cards(path: str | Path | None = None) -> list[CardData]:
    """The built-in coaching cards, validated, in file order."""
    return parse_cards(_rows(_read("coaching_cards.toml", path), table="card", what="cards"))


@functools.cache
def builtin_cards() -> tuple[CardData, ...]:
    """The shipped cards, read once per process: every facilitator's snapshot carries
    them, and the file changes only with a deploy."""
    return tuple(load_cards())


def load_scripts(
    path: str | Path | None = None, *, prompts: Iterable[PromptData] | None = None
) -> list[ScriptData]:
    """The built-in agenda scripts, validated against `prompts` (default: load_prompts())."""
    library = load_prompts() if prompts is None else prompts
    rows = _rows(_read("scripts.toml", path), table="script", what="scripts")
    return parse_scripts(rows, prompts=library)
