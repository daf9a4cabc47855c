"""Where a server process spends its time: py-spy samples it during a step.

`py-spy record --format raw --threads` writes collapsed stacks ("thread;f1;f2;leaf n");
the leaf of each stack is where the process was running (own time), and the first frame
names the thread, which gives each thread's busy share of the step.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

PYSPY = Path(sys.executable).parent / "py-spy"
RATE = 100
_LINE = re.compile(r":\d+\)$")
IDLE_LEAVES = (
    "select (selectors.py)",
    "EpollSelector.select (selectors.py)",
    "_worker (concurrent/futures/thread.py)",
    "Condition.wait (threading.py)",
    "SimpleQueue.get",
)
"""Leaves where a thread waits for work (an event loop in epoll, an idle pool thread):
py-spy samples them as running, but they are not load."""


def start(pid: int, *, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    argv = [
        str(PYSPY),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(seconds)),
        "--rate",
        str(RATE),
        "--format",
        "raw",
        "--threads",
        "--output",
        str(out),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _function(frame: str) -> str:
    """'chat_send (realtime/services.py:231)' -> 'chat_send (realtime/services.py)'."""
    frame = _LINE.sub(")", frame.strip())
    return frame.replace(str(Path(sys.prefix)) + "/lib/python3.12/site-packages/", "")


def summarise(path: Path, *, seconds: float, top: int = 25) -> dict[str, Any]:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread, frames = frames[0], [_function(f) for f in frames[1:]]
        if frames and frames[-1].startswith(IDLE_LEAVES):
            continue
        total += count
        threads[thread] += count
        if frames:
            own[frames[-1]] += count
            for name in set(frames):
                inclusive[name] += count
    expected = max(seconds * RATE, 1)
    return {
        "samples": total,
        "thread_busy_pct": {t: round(100 * n / expected, 1) for t, n in threads.most_common(6)},
        "own": [(name, round(100 * n / max(total, 1), 1)) for name, n in own.most_common(top)],
        "inclusive": [
            (name, round(100 * n / max(total, 1), 1)) for name, n in inclusive.most_common(top)
        ],
    }
