"""The benchmark keeps working: a tiny run of every target and load scenario, end to
end (its own PostgreSQL, Redis, nginx and daphne processes, real websockets).

Nothing here asserts a time: timing goals live in `make bench`. What is asserted is
that every message reached every client of its room exactly once, that the server-side
counts arrive, and that the report is written.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = ["websockets", "channels-redis", "channels-pubsub", "hearth", "hearth-dev"]
CLIENTS_PER_ROOM = 4  # the tiny scenario: 3 members and a facilitator


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--scenarios", "tiny", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return out, json.loads((out / "performance.json").read_text())


def _result(data, target, scenario):
    matches = [r for r in data["results"] if r["target"] == target and r["scenario"] == scenario]
    assert len(matches) == 1, f"{target} {scenario}: {len(matches)} results"
    return matches[0]


@pytest.mark.live_server_processes
@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("scenario", ["light", "standard"])
def test_every_message_reaches_every_client_of_its_room_once(report, target, scenario):
    _, data = report
    result = _result(data, target, scenario)
    assert result["connect"]["connected"] == result["clients"] == 8
    assert result["sent"] > 0
    assert result["acked"] == result["sent"]
    assert result["delivered"] == result["sent"] * CLIENTS_PER_ROOM
    assert result["lost"] == result["duplicated"] == result["refused"] == 0
    assert result["p99_ms"] is not None and result["p50_ms"] <= result["p99_ms"]


@pytest.mark.live_server_processes
@pytest.mark.parametrize("target", TARGETS)
def test_saturation_reports_a_held_step_or_why_it_stopped(report, target):
    _, data = report
    result = _result(data, target, "saturation")
    assert result["stopped"]
    assert result["steps"], "saturation tried no step"
    if result["held"]:
        assert result["deliveries_per_s"] > 0
    if target.startswith("hearth"):
        # Hearth's saturation stays inside the per-member chat limit: never refused.
        assert all(step["refused"] == 0 for step in result["steps"])


@pytest.mark.live_server_processes
def test_server_side_counts_reach_the_report(report):
    _, data = report
    hearth = _result(data, "hearth", "standard")
    assert set(hearth["server_cpu_pct"]) == {"web-1", "web-2"}
    assert hearth["db_cpu_pct"] is not None and hearth["redis_cpu_pct"] is not None
    assert hearth["proxy_cpu_pct"] is not None
    # Counted by pg_stat_statements on the server: a chat message costs some SQL.
    assert hearth["queries_per_send"] > 0
    # ...and BEGIN/COMMIT are counted apart from the statements that do the work.
    assert hearth["queries_per_send"] < hearth["statements_per_send_all"]
    assert _result(data, "websockets", "standard")["queries_per_send"] is None


@pytest.mark.live_server_processes
def test_the_report_is_written_with_every_target(report):
    out, _ = report
    text = (out / "performance.md").read_text()
    assert "<!-- bench:begin" in text and "<!-- bench:end -->" in text
    for target in TARGETS:
        assert f"`{target}`" in text
    assert (out / "performance-latency.svg").read_text().lstrip().startswith("<?xml")
