"""How the load generator counts what happened to each message, and how the harness
turns the shipped nginx config into its own: pure functions, no servers."""

import json

import pytest

from bench.loadgen import ClientSpec, LoadGen, Send, Step, percentile
from bench.servers import NGINX_CONFIG, ServiceError, nginx_config


def _gen(rooms=2, per_room=3):
    specs = [
        ClientSpec(room=r, path=f"/ws/meetings/{r}/", session=None, sends=i > 0)
        for r in range(rooms)
        for i in range(per_room)
    ]
    gen = LoadGen(
        base_url="ws://127.0.0.1:1", origin="http://127.0.0.1", specs=specs, track_seq=True
    )
    for client in gen.clients:
        client.ready.set()
    return gen


def _chat(cid, seq=1):
    return json.dumps({"type": "chat.message", "seq": seq, "client_id": cid, "body": "hi"})


def _start(gen, *cids, room=0):
    step = Step(name="s", rate_per_room=1, duration=1)
    for cid in cids:
        step.sends[cid] = Send(
            t=0.0, room=room, expected=3, delivered=0, acked_at=None, refused=None
        )
    gen.step = step
    return step


def test_a_message_every_client_got_once_is_delivered_not_lost():
    gen = _gen()
    step = _start(gen, "a")
    gen.on_frame(gen.clients[1], json.dumps({"type": "ack", "ref": "a", "seq": 7}), 0.002)
    for client in gen.clients[:3]:
        gen.on_frame(client, _chat("a", 7), 0.005)
    summary = step.summary(clients=6)
    assert (summary["delivered"], summary["lost"], summary["duplicated"]) == (3, 0, 0)
    assert summary["acked"] == 1 and summary["p99_ms"] == 5.0 and summary["ack_p50_ms"] == 2.0


def test_a_client_that_never_got_it_counts_as_lost_and_a_second_copy_as_duplicated():
    gen = _gen()
    step = _start(gen, "a")
    gen.on_frame(gen.clients[0], _chat("a"), 0.01)
    gen.on_frame(gen.clients[0], _chat("a"), 0.02)
    gen.on_frame(gen.clients[1], _chat("a"), 0.01)
    summary = step.summary(clients=6)
    assert (summary["delivered"], summary["lost"], summary["duplicated"]) == (2, 1, 1)
    assert summary["unanswered"] == 1  # never acked


def test_a_refused_send_expects_nothing_and_is_counted_by_code():
    gen = _gen()
    step = _start(gen, "a", "b")
    gen.on_frame(gen.clients[1], json.dumps({"type": "error", "ref": "a", "code": "muted"}), 0)
    gen.on_frame(gen.clients[1], json.dumps({"type": "error", "ref": "b", "code": "muted"}), 0)
    summary = step.summary(clients=6)
    assert summary["refused_by_code"] == {"muted": 2}
    assert summary["lost"] == 0 and summary["expected"] == 0


def test_an_earlier_steps_message_is_stale_not_delivered():
    gen = _gen()
    step = _start(gen, "new")
    gen.on_frame(gen.clients[0], _chat("old"), 0.01)
    assert step.stale == 1 and step.summary(clients=6)["delivered"] == 0


def test_seq_audit_tells_lost_from_doubled_from_resync_overlap():
    gen = _gen(rooms=1)
    _start(gen, "a")
    gen.on_frame(gen.clients[1], json.dumps({"type": "ack", "ref": "a", "seq": 4}), 0)
    gen.on_frame(gen.clients[0], _chat("a", 4), 0)
    gen.on_frame(
        gen.clients[0],
        json.dumps({"type": "events", "events": [{"type": "chat.message", "seq": 4}]}),
        0,
    )
    gen.on_frame(gen.clients[1], _chat("a", 4), 0)
    gen.on_frame(gen.clients[1], _chat("a", 4), 0)
    assert gen.seq_audit() == {"seq_lost": 1, "seq_doubled": 1, "seq_overlap_dropped": 1}
    # A client still away is not counted: it resyncs when it comes back.
    gen.clients[2].ready.clear()
    assert gen.seq_audit() == {"seq_lost": 0, "seq_doubled": 1, "seq_overlap_dropped": 1}


@pytest.mark.parametrize(("pct", "expected"), [(50, 50), (99, 99), (100, 100), (1, 1)])
def test_percentile_of_one_to_a_hundred(pct, expected):
    assert percentile([float(x) for x in range(1, 101)], pct) == expected


def test_percentile_of_nothing_is_none():
    assert percentile([], 99) is None


def test_the_harness_runs_the_shipped_nginx_config_with_only_upstream_and_port_swapped():
    shipped = NGINX_CONFIG.read_text()
    text = nginx_config(listen=9100, upstream_ports=[9101, 9102])
    assert "server 127.0.0.1:9101;" in text and "server 127.0.0.1:9102;" in text
    assert "listen 127.0.0.1:9100;" in text and "web:8000" not in text
    # Everything from the server block on is the shipped text, but for the port.
    tail = shipped[shipped.index("    server {") :].replace(
        "listen 8000;", "listen 127.0.0.1:9100;"
    )
    assert text.endswith(tail)


def test_a_config_without_its_markers_is_refused(tmp_path, monkeypatch):
    broken = tmp_path / "nginx.conf"
    broken.write_text(NGINX_CONFIG.read_text().replace("# upstream: begin", "# upstream"))
    monkeypatch.setattr("bench.servers.NGINX_CONFIG", broken)
    with pytest.raises(ServiceError, match="markers"):
        nginx_config(listen=1, upstream_ports=[2])
