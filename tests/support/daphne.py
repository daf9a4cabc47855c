"""A real daphne process serving Hearth on a loopback port, for browser tests and
the two-process scale-out test. It talks to the test database and Redis given in its
environment, exactly as production would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Self

from tests.support import (
    free_port,
    log_tail,
    make_workdir,
    register_live,
    spawn,
    stop_process,
    unregister_live,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]


class DaphneServer:
    def __init__(
        self,
        *,
        database_url: str,
        redis_url: str | None,
        port: int | None = None,
        env: dict[str, str] | None = None,
    ):
        self.extra_env = env or {}
        self.database_url = database_url
        self.redis_url = redis_url
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.workdir = make_workdir("hearth-daphne-")
        self.log_path = self.workdir / "daphne.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accepts(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def start(self, timeout: float = 30.0) -> Self:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self.database_url,
            "DEBUG": "true",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "HEARTH_PRESENCE_GRACE_SECONDS": os.environ.get("HEARTH_PRESENCE_GRACE_SECONDS", "1"),
            "PYTHONUNBUFFERED": "1",
        }
        env.update(self.extra_env)
        env.pop("REDIS_URL", None)
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        self._log = self.log_path.open("ab")
        daphne = Path(sys.executable).with_name("daphne")
        self.proc = spawn(
            [daphne, "-b", "127.0.0.1", "-p", str(self.port), "config.asgi:application"],
            log=self._log,
            cwd=ROOT,
            env=env,
        )
        register_live(self)
        wait_until(self._accepts, proc=self.proc, what="daphne", log=self.log_path, timeout=timeout)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=10)
            self.proc = None

    def close(self) -> None:
        self.stop()
        unregister_live(self)
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return log_tail(self.log_path, 80)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
