"""The browser client's pure modules have their own unit tests (node --test); this
runs them inside the pytest session so `make test` has one runner and one verdict."""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_client_unit_tests_pass():
    node = shutil.which("node")
    assert node, "Node.js is needed for the client unit tests: run `make test` (installs it)."
    result = subprocess.run(  # noqa: S603
        [node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
