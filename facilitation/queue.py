"""The speaking queue: raised hands in order, and who holds the floor.

Invariants: a person is in the queue at most once; the floor holder is never in the
queue; every `raised_at` is timezone-aware. The facilitator owns the order (`move`);
progressive mode decides where a NEW hand goes, and re-sorts once when switched on.
Pure: the caller passes `now` and how often each member has spoken.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

__all__ = [
    "QueueEntry",
    "QueueError",
    "QueueErrorCode",
    "QueueState",
    "grant_floor",
    "lower_hand",
    "may_chat",
    "move",
    "position_of",
    "raise_hand",
    "release_floor",
    "remove_member",
    "set_mode",
]

type QueueErrorCode = Literal["conflict", "not_found", "invalid"]

_MESSAGES: dict[QueueErrorCode, str] = {
    "conflict": "You already have the floor.",
    "not_found": "That person is not in the queue.",
    "invalid": "That queue command is not valid.",
}


class QueueError(Exception):
    """A queue command that cannot apply; `code` is the protocol's error code."""

    def __init__(self, code: QueueErrorCode, message: str | None = None) -> None:
        self.code: QueueErrorCode = code
        self.message: str = message or _MESSAGES[code]
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"QueueError({self.code!r}, {self.message!r})"


def _is_aware(moment: datetime) -> bool:
    return moment.tzinfo is not None and moment.utcoffset() is not None


@dataclass(frozen=True, slots=True)
class QueueEntry:
    membership_id: int
    raised_at: datetime

    def __post_init__(self) -> None:
        if not _is_aware(self.raised_at):
            raise ValueError("raised_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class QueueState:
    """A list of entries is accepted (as loaded from the database) and kept as a tuple;
    a state breaking the invariants raises ValueError: only a bug or a corrupt row makes one."""

    entries: tuple[QueueEntry, ...] = ()
    floor: int | None = None
    talking_piece: bool = False
    progressive: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", tuple(self.entries))
        queued = [e.membership_id for e in self.entries]
        if len(set(queued)) != len(queued):
            raise ValueError("a member is queued twice")
        if self.floor is not None and self.floor in queued:
            raise ValueError("the floor holder is queued")

    @property
    def queued(self) -> tuple[int, ...]:
        return tuple(e.membership_id for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for a JSONField or a snapshot (aliases are the caller's to add)."""
        return {
            "entries": [
                {"membership_id": e.membership_id, "raised_at": e.raised_at.isoformat()}
                for e in self.entries
            ],
            "floor": self.floor,
            "talking_piece": self.talking_piece,
            "progressive": self.progressive,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QueueState:
        return cls(
            entries=tuple(
                QueueEntry(e["membership_id"], datetime.fromisoformat(e["raised_at"]))
                for e in data["entries"]
            ),
            floor=data["floor"],
            talking_piece=data["talking_piece"],
            progressive=data["progressive"],
        )


def position_of(state: QueueState, membership_id: int) -> int | None:
    """0-based place in the queue, or None if not queued (for "you are 3rd" hints)."""
    for index, entry in enumerate(state.entries):
        if entry.membership_id == membership_id:
            return index
    return None


def raise_hand(
    state: QueueState,
    *,
    membership_id: int,
    now: datetime,
    spoken_counts: Mapping[int, int],
) -> QueueState:
    """Queue a hand. Raising again keeps the first place (double clicks, retries). The
    floor holder raising is a conflict: his view is stale, and he must not be queued.
    In progressive mode the hand goes just ahead of the first person who has spoken more
    (`spoken_counts`, missing = 0), so it stays behind everyone who spoke as much or less."""
    if not _is_aware(now):
        raise QueueError("invalid", "`now` must be timezone-aware.")
    if state.floor == membership_id:
        raise QueueError("conflict")
    if position_of(state, membership_id) is not None:
        return state
    at = len(state.entries)
    if state.progressive:
        mine = spoken_counts.get(membership_id, 0)
        at = next(
            (
                index
                for index, entry in enumerate(state.entries)
                if spoken_counts.get(entry.membership_id, 0) > mine
            ),
            at,
        )
    entry = QueueEntry(membership_id, now)
    return replace(state, entries=(*state.entries[:at], entry, *state.entries[at:]))


def lower_hand(state: QueueState, *, membership_id: int) -> QueueState:
    """No-op if not queued: lowering is what the member wants, whatever the server saw."""
    return _without(state, membership_id)


def grant_floor(state: QueueState, *, membership_id: int) -> QueueState:
    """Give the floor, whether or not he raised a hand. A previous holder simply loses it
    (he is not re-queued: he can raise his hand again)."""
    return replace(_without(state, membership_id), floor=membership_id)


def release_floor(state: QueueState) -> QueueState:
    """No-op when nobody holds the floor (two facilitators releasing at once)."""
    if state.floor is None:
        return state
    return replace(state, floor=None)


def move(state: QueueState, *, membership_id: int, position: int) -> QueueState:
    """Put a queued member at a 0-based position, clamped into the queue."""
    index = position_of(state, membership_id)
    if index is None:
        raise QueueError("not_found")
    entries = list(state.entries)
    entry = entries.pop(index)
    entries.insert(min(max(position, 0), len(entries)), entry)
    return replace(state, entries=tuple(entries))


def set_mode(
    state: QueueState,
    *,
    talking_piece: bool,
    progressive: bool,
    spoken_counts: Mapping[int, int],
) -> QueueState:
    """Switching progressive ON re-sorts once, stably, by times spoken (fewest first).
    Leaving it on keeps the order (a facilitator's moves survive toggling the talking
    piece), and switching it off keeps the order as it is."""
    entries = state.entries
    if progressive and not state.progressive:
        entries = tuple(sorted(entries, key=lambda e: spoken_counts.get(e.membership_id, 0)))
    return replace(state, entries=entries, talking_piece=talking_piece, progressive=progressive)


def remove_member(state: QueueState, membership_id: int) -> QueueState:
    """A removed (or departed) member leaves the queue and loses the floor."""
    state = _without(state, membership_id)
    if state.floor == membership_id:
        return replace(state, floor=None)
    return state


def may_chat(
    *,
    is_facilitator: bool,
    membership_id: int,
    queue: QueueState,
    round_speaker: int | None,
    round_active: bool,
) -> Literal["not_your_turn"] | None:
    """The turn rule for `chat.send`: None if allowed, else the protocol error code.
    A round outranks the talking piece: during one, only its current speaker may chat."""
    if is_facilitator:
        return None
    if round_active:
        return None if membership_id == round_speaker else "not_your_turn"
    if queue.talking_piece and queue.floor != membership_id:
        return "not_your_turn"
    return None


def _without(state: QueueState, membership_id: int) -> QueueState:
    index = position_of(state, membership_id)
    if index is None:
        return state
    return replace(state, entries=state.entries[:index] + state.entries[index + 1 :])
