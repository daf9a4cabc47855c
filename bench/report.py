"""Write the results: docs/performance.json (one object per target and scenario),
the generated part of docs/performance.md (between its markers; the prose around it is
kept), and a latency-vs-load plot (SVG, matplotlib)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench:begin (written by `make bench`; edits here are overwritten) -->"
END = "<!-- bench:end -->"
PLOT = "performance-latency.svg"

JSON_FIELDS = (
    "target",
    "scenario",
    "clients",
    "rooms",
    "sent",
    "acked",
    "delivered",
    "lost",
    "duplicated",
    "refused",
    "refused_by_code",
    "unanswered",
    "dropped_connections",
    "deliveries_per_s",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "max_ms",
    "ack_p50_ms",
    "ack_p99_ms",
    "generator_lag_p99_ms",
    "queries_per_send",
    "statements_per_send_all",
    "rss_kib_per_conn",
    "server_cpu_pct",
    "server_cpu_total_pct",
    "db_cpu_pct",
    "redis_cpu_pct",
    "proxy_cpu_pct",
    "load_before",
    "held",
    "held_rate_per_room",
    "stopped",
    "rate_per_room",
    "connect",
    # idle and reconnect
    "connected",
    "still_connected",
    "server_rss_kib",
    "reconnected_clients",
    "still_away",
    "redis_down_s",
    "all_back_s",
    "seq_lost",
    "seq_doubled",
    "seq_overlap_dropped",
    "profile",
    "statements",
)

FLOORS = ("websockets", "channels-redis", "channels-pubsub")
HEARTHS = ("hearth", "hearth-dev")


def _entry(result: dict[str, Any]) -> dict[str, Any]:
    entry = {k: result[k] for k in JSON_FIELDS if k in result}
    if "steps" in result:
        entry["steps"] = [
            {
                k: s[k]
                for k in (
                    "rate_per_room",
                    "deliveries_per_s",
                    "p50_ms",
                    "p99_ms",
                    "lost",
                    "refused",
                    "held",
                    "generator_lag_p99_ms",
                )
                if k in s
            }
            for s in result["steps"]
        ]
    return entry


def _find(results: list[dict], target: str, scenario: str) -> dict[str, Any] | None:
    return next((r for r in results if r["target"] == target and r["scenario"] == scenario), None)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items()) or "–"
    return str(value)


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _load_table(results: list[dict], scenario: str) -> str:
    rows = []
    for r in results:
        if r["scenario"] != scenario:
            continue
        rows.append(
            [
                f"`{r['target']}`",
                _fmt(r.get("clients")),
                _fmt(r.get("sent")),
                _fmt(r.get("delivered")),
                _fmt(r.get("lost")),
                _fmt(r.get("duplicated")),
                _fmt(r.get("refused_by_code") or r.get("refused")),
                _fmt(r.get("deliveries_per_s"), 0),
                _fmt(r.get("p50_ms")),
                _fmt(r.get("p95_ms")),
                _fmt(r.get("p99_ms")),
                _fmt(r.get("max_ms"), 0),
                _fmt(r.get("ack_p50_ms")),
                _fmt(r.get("server_cpu_pct"), 0),
                _fmt(r.get("db_cpu_pct"), 0),
                _fmt(r.get("redis_cpu_pct"), 0),
                _fmt(r.get("proxy_cpu_pct"), 0),
                _fmt(r.get("queries_per_send"), 2),
                _fmt(r.get("generator_lag_p99_ms")),
                _fmt(r.get("load_before", [None])[0], 2),
            ]
        )
    headers = [
        "target",
        "clients",
        "sent",
        "delivered",
        "lost",
        "dup",
        "refused",
        "deliveries/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "ack p50 ms",
        "server CPU %",
        "PostgreSQL CPU %",
        "Redis CPU %",
        "nginx CPU %",
        "SQL per send",
        "generator lag p99 ms",
        "load avg before",
    ]
    return _table(headers, rows)


def _connect_table(results: list[dict]) -> str:
    rows = []
    seen = set()
    for r in results:
        connect = r.get("connect")
        if not connect or r["target"] in seen or r["scenario"] == "idle":
            continue
        seen.add(r["target"])
        rows.append(
            [
                f"`{r['target']}`",
                f"{connect['connected']:,} of {connect['clients']:,}",
                _fmt(connect.get("failed")),
                _fmt(connect.get("connect_s"), 1),
                _fmt(connect.get("handshake_p50_ms")),
                _fmt(connect.get("handshake_p99_ms")),
                _fmt(r.get("rss_kib_per_conn")),
            ]
        )
    headers = [
        "target",
        "connected",
        "failed",
        "seconds to connect all",
        "handshake+snapshot p50 ms",
        "p99 ms",
        "server RSS KiB per connection",
    ]
    return _table(headers, rows)


def _saturation_table(results: list[dict]) -> str:
    rows = []
    for r in results:
        if r["scenario"] != "saturation":
            continue
        steps = ", ".join(
            f"{s['rate_per_room']:g}/s: {_fmt(s['deliveries_per_s'], 0)} d/s p99 "
            f"{_fmt(s['p99_ms'])}{'' if s['held'] else ' ✗'}"
            for s in r.get("steps", [])
        )
        rows.append(
            [
                f"`{r['target']}`",
                f"{r['held_rate_per_room']:g}" if r.get("held_rate_per_room") else "–",
                _fmt(r.get("deliveries_per_s"), 0),
                _fmt(r.get("p99_ms")) if r.get("held") else "–",
                r.get("stopped", ""),
                steps,
            ]
        )
    headers = [
        "target",
        "held: messages/s per circle",
        "held: deliveries/s",
        "p99 ms there",
        "stopped because",
        "steps (✗ = did not hold)",
    ]
    return _table(headers, rows)


def _ratios(results: list[dict]) -> str:
    rows = []
    for hearth in HEARTHS:
        sat = _find(results, hearth, "saturation")
        std = _find(results, hearth, "standard")
        for floor in FLOORS:
            floor_sat = _find(results, floor, "saturation")
            floor_std = _find(results, floor, "standard")
            if not (sat and floor_sat) and not (std and floor_std):
                continue
            throughput = (
                sat["deliveries_per_s"] / floor_sat["deliveries_per_s"]
                if sat and floor_sat and floor_sat["deliveries_per_s"]
                else None
            )
            p99 = (
                std["p99_ms"] / floor_std["p99_ms"]
                if std and floor_std and std["p99_ms"] and floor_std["p99_ms"]
                else None
            )
            rows.append([f"`{hearth}` / `{floor}`", _fmt(throughput, 2), _fmt(p99, 1)])
    return _table(
        ["ratio", "saturation throughput (held deliveries/s)", "p99 at the standard load"], rows
    )


def _other_tables(results: list[dict]) -> list[str]:
    parts = []
    idle = [r for r in results if r["scenario"] == "idle"]
    if idle:
        parts.append("### Idle connections\n")
        parts.append(
            _table(
                [
                    "target",
                    "connections",
                    "connected",
                    "still connected after the wait",
                    "seconds to connect",
                    "server RSS KiB per connection",
                ],
                [
                    [
                        f"`{r['target']}`",
                        _fmt(r["clients"]),
                        _fmt(r["connected"]),
                        _fmt(r["still_connected"]),
                        _fmt(r["connect"]["connect_s"]),
                        _fmt(r["rss_kib_per_conn"]),
                    ]
                    for r in idle
                ],
            )
        )
    again = [r for r in results if r["scenario"] == "reconnect"]
    if again:
        parts.append("\n### Redis restarted under the standard load\n")
        parts.append(
            _table(
                [
                    "target",
                    "clients",
                    "reconnected",
                    "still away",
                    "Redis down s",
                    "all back s",
                    "live deliveries lost",
                    "events lost after resync",
                    "events doubled live",
                    "resync overlap (dropped by seq)",
                ],
                [
                    [
                        f"`{r['target']}`",
                        _fmt(r["clients"]),
                        _fmt(r["reconnected_clients"]),
                        _fmt(r["still_away"]),
                        _fmt(r["redis_down_s"]),
                        _fmt(r["all_back_s"]),
                        _fmt(r["lost"]),
                        _fmt(r["seq_lost"]) if r["target"] == "hearth" else "n/a (no log)",
                        _fmt(r["seq_doubled"]) if r["target"] == "hearth" else "n/a",
                        _fmt(r.get("seq_overlap_dropped")) if r["target"] == "hearth" else "n/a",
                    ]
                    for r in again
                ],
            )
        )
    return parts


def _statements(results: list[dict]) -> list[str]:
    parts = []
    for r in results:
        if r["scenario"] != "standard" or not r.get("statements"):
            continue
        parts += [
            f"\n### SQL per `chat.send` on `{r['target']}` (standard, pg_stat_statements)\n",
            _table(
                ["statement", "per send"],
                [[f"`{query[:160]}`", _fmt(per)] for query, per in r["statements"]],
            ),
        ]
    return parts


def _profiles(results: list[dict]) -> list[str]:
    parts = []
    for r in results:
        prof = r.get("profile")
        if r["scenario"] != "standard" or not prof:
            continue
        busy = ", ".join(f"{t} {pct}%" for t, pct in prof["thread_busy_pct"].items())
        parts += [
            f"\n### Where `{r['target']}`'s first web process spends its time ({r['scenario']})\n",
            f"py-spy, {prof['samples']:,} samples. Busy share of the step per thread: {busy}.\n",
            _table(
                ["function (own time)", "% of samples"],
                [[f"`{name}`", f"{pct}"] for name, pct in prof["own"][:20]],
            ),
        ]
    return parts


def markdown(results: dict[str, Any], plot: str | None) -> str:
    rows = results["results"]
    m = results["machine"]
    opts = results["options"]
    load_rows = [
        f"`{r['target']}` {r['load_before'][0]:.2f}"
        for r in rows
        if r["scenario"] == "light" and r.get("load_before")
    ]
    parts = [
        BEGIN,
        "",
        f"Run at {results['generated_at']} in {results['seconds']:.0f} s on {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, Python "
        f"{m['python']}. The load generator (one asyncio process), the servers, PostgreSQL, "
        f"Redis and nginx all share these cores, so every figure includes the generator's "
        f"own cost; compare targets within one run (ratios), not across machines.",
        "",
        f"Load: {opts['rooms']} circles x {opts['members']} members + a facilitator each. "
        f"Each delivery is one `chat.message` reaching one client (the sender included). "
        f"Load average before each target's first step: {', '.join(load_rows) or '–'}.",
        "",
    ]
    for scenario, title in (
        (
            "standard",
            f"standard: {opts['standard_rate']:g} message/s per circle for "
            f"{opts['standard_seconds']:g} s",
        ),
        (
            "light",
            f"light: {opts['light_rate']:g} message/s per circle for {opts['light_seconds']:g} s",
        ),
    ):
        if any(r["scenario"] == scenario for r in rows):
            parts += [f"### {title}", "", _load_table(rows, scenario), ""]
    if any(r["scenario"] == "saturation" for r in rows):
        parts += [
            f"### saturation: steps of {opts['step_seconds']:g} s until p99 > 50 ms, or "
            "anything lost or refused",
            "",
            _saturation_table(rows),
            "",
            "### Hearth against its floors, same run",
            "",
            _ratios(rows),
            "",
        ]
    if any(r.get("connect") for r in rows):
        parts += ["### Connecting everyone", "", _connect_table(rows), ""]
    parts += _other_tables(rows)
    parts += _statements(rows)
    parts += _profiles(rows)
    if plot:
        parts += ["", f"![p50 and p99 latency against load, per target]({plot})", ""]
    parts += [END]
    return "\n".join(parts)


def plot(results: dict[str, Any], path: Path) -> bool:
    """p50 and p99 send->receipt against deliveries/s, one line per target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.8))
    drawn = False
    for target in dict.fromkeys(r["target"] for r in results["results"]):
        points = []
        for r in results["results"]:
            if r["target"] != target:
                continue
            if r["scenario"] == "light":
                points.append(r)
            if r["scenario"] == "saturation":
                points += r.get("steps", [])
            elif r["scenario"] == "standard" and not _find(
                results["results"], target, "saturation"
            ):
                points.append(r)
        points = sorted((p for p in points if p.get("p99_ms")), key=lambda p: p["rate_per_room"])
        if not points:
            continue
        x = [p["deliveries_per_s"] for p in points]
        line = ax.plot(x, [p["p99_ms"] for p in points], marker="o", label=f"{target} p99")[0]
        ax.plot(
            x,
            [p["p50_ms"] for p in points],
            marker=".",
            linestyle=":",
            color=line.get_color(),
            label=f"{target} p50",
        )
        drawn = True
    if not drawn:
        plt.close(fig)
        return False
    ax.axhline(50, color="grey", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("deliveries per second (chat.message reaching a client)")
    ax.set_ylabel("send -> receipt latency, ms")
    ax.set_title("Latency against load (dashed line: the 50 ms goal)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path, format=path.suffix.lstrip(".") or "svg")
    plt.close(fig)
    return True


def write(results: dict[str, Any], *, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "performance.json"
    document = {
        "generated_at": results["generated_at"],
        "seconds": results["seconds"],
        "machine": results["machine"],
        "options": results["options"],
        "results": [_entry(r) for r in results["results"]],
    }
    json_path.write_text(json.dumps(document, indent=1) + "\n")
    plot_path = out / PLOT
    drew = plot(results, plot_path)
    md_path = out / "performance.md"
    generated = markdown(results, PLOT if drew else None)
    if md_path.exists() and BEGIN in (text := md_path.read_text()) and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        md_path.write_text(head + generated + tail)
    else:
        md_path.write_text("# Performance\n\n" + generated + "\n")
    return [json_path, md_path] + ([plot_path] if drew else [])


def console(results: dict[str, Any]) -> str:
    lines = []
    for r in results["results"]:
        if r["scenario"] in ("standard", "light", "saturation"):
            lines.append(
                f"{r['target']:>16} {r['scenario']:>10}: "
                f"{_fmt(r.get('deliveries_per_s'), 0):>7} deliveries/s  "
                f"p50 {_fmt(r.get('p50_ms')):>8} ms  p99 {_fmt(r.get('p99_ms')):>9} ms  "
                f"lost {_fmt(r.get('lost'))}  refused {_fmt(r.get('refused'))}"
                + (f"  [{r.get('stopped')}]" if r["scenario"] == "saturation" else "")
            )
    return "\n".join(lines)
