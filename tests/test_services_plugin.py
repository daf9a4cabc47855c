"""Self-test of the service bootstrap: the session's URLs reach real servers, and the
tests.support servers stop, crash and come back on the same port as fault tests expect.

Deliberately Django-free (plain psycopg and redis-py), so it checks the plumbing alone.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import psycopg
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.support import ServiceError
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisServer, start_redis_server


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    server = start_redis_server()
    try:
        yield server
    finally:
        server.close()


def test_database_url_is_a_live_postgresql() -> None:
    with psycopg.connect(os.environ["DATABASE_URL"], connect_timeout=5) as conn:
        row = conn.execute("select version(), current_setting('is_superuser')").fetchone()
    assert row is not None
    version, is_superuser = row
    assert version.startswith("PostgreSQL ")
    # pytest-django creates test_<name> itself, which needs CREATEDB (superuser here).
    assert is_superuser == "on"


def test_redis_url_answers_ping() -> None:
    client = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)
    try:
        assert client.ping() is True
    finally:
        client.close()


def test_redis_server_restarts_on_the_same_port(private_redis: RedisServer) -> None:
    port = private_redis.port
    client = redis.Redis.from_url(private_redis.url, socket_timeout=2)
    try:
        client.set("before", "1")
        assert client.get("before") == b"1"

        private_redis.stop()
        assert not private_redis.running
        with pytest.raises(redis.ConnectionError):
            redis.Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0)).ping()

        private_redis.start()
        assert private_redis.port == port
        # The client connected before the restart reconnects; the data did not survive.
        assert client.ping() is True
        assert client.get("before") is None
    finally:
        client.close()


def test_redis_server_comes_back_after_a_crash(private_redis: RedisServer) -> None:
    port = private_redis.port
    private_redis.kill()
    assert not private_redis.ping()
    private_redis.start()
    assert private_redis.port == port
    assert private_redis.ping()


def test_redis_server_reports_a_taken_port_instead_of_moving() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        server = RedisServer(squatter.getsockname()[1])
        try:
            with pytest.raises(ServiceError, match="Address already in use"):
                server.start()
            assert not server.running
        finally:
            server.close()


def test_postgres_server_restart_keeps_port_and_data() -> None:
    with PostgresServer(database="restart_check") as server:
        port = server.port
        with server.connect("restart_check") as conn:
            conn.execute("create table kept (x int)")
            conn.execute("insert into kept values (42)")
        server.restart()
        assert server.port == port
        with server.connect("restart_check") as conn:
            assert conn.execute("select x from kept").fetchone() == (42,)
    assert not server.running
