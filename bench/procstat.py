"""CPU time and resident memory of server processes, read from /proc.

CPU is measured as a delta of (user + system) clock ticks over a step, so a process's
share of one core is 100 %. A service that forks (PostgreSQL: one backend per
connection) is counted as a tree: the parent's own time, the time of children it has
already reaped (cutime/cstime), and the time of children still alive. A backend that
starts and exits inside a step is therefore counted too.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            raw = handle.read().decode()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing ')'.
    return raw[raw.rindex(")") + 2 :].split()


def _own_ticks(fields: list[str]) -> int:
    return int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)


def _reaped_children_ticks(fields: list[str]) -> int:
    return int(fields[13]) + int(fields[14])  # cutime, cstime (fields 16, 17)


def children(pid: int) -> list[int]:
    """Direct children of `pid` (scans /proc: fine for a few hundred processes)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None and int(fields[1]) == pid:
            found.append(int(entry))
    return found


def tree_ticks(pid: int) -> int:
    """CPU ticks of a process, its reaped children and its live descendants."""
    fields = _stat_fields(pid)
    if fields is None:
        return 0
    total = _own_ticks(fields) + _reaped_children_ticks(fields)
    for child in children(pid):
        total += tree_ticks(child)
    return total


def process_ticks(pid: int) -> int:
    fields = _stat_fields(pid)
    return 0 if fields is None else _own_ticks(fields)


def rss_kib(pid: int) -> int:
    """Resident set size of one process, in KiB."""
    try:
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * _PAGE_KIB
    except OSError:
        return 0


def load_average() -> tuple[float, float, float]:
    return os.getloadavg()


@dataclass(frozen=True)
class Watched:
    """One thing whose CPU a report shows: a label, its pid, and whether to count its
    process tree (PostgreSQL) or the process alone (daphne, redis, nginx worker)."""

    label: str
    pid: int
    tree: bool = False

    def ticks(self) -> int:
        return tree_ticks(self.pid) if self.tree else process_ticks(self.pid)


class CpuMeter:
    """Start it, run the step, then read each watched process's CPU % over the step."""

    def __init__(self, watched: list[Watched]) -> None:
        self.watched = watched
        self._start: dict[str, int] = {}
        self._began = 0.0

    def start(self) -> None:
        self._began = time.perf_counter()
        self._start = {w.label: w.ticks() for w in self.watched}

    def read(self) -> dict[str, float]:
        seconds = max(time.perf_counter() - self._began, 1e-6)
        return {
            w.label: round(100.0 * (w.ticks() - self._start[w.label]) / _TICKS / seconds, 1)
            for w in self.watched
        }
