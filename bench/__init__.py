"""Hearth's benchmark: the live room under load, side by side with its floors.

`python -m bench --help` explains every option; `make bench` runs the standard set and
writes docs/performance.md and docs/performance.json. The harness starts and stops
every process it needs (its own redis-server, PostgreSQL and nginx on loopback), so it
never touches the machine's own services. See bench/run.py for the flow, loadgen.py
for how latency and losses are counted, and servers.py for what each target is.
"""
