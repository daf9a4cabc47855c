import pytest

from tests import factories


@pytest.fixture(scope="session", autouse=True)
def close_async_test_connections(django_db_setup):
    """Async tests reach the ORM through asgiref's shared sync thread and the live
    room's database threads, whose connections outlive them; close them before
    pytest-django drops the test database."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(timeout=10)
    from realtime import calls, lease

    lease.stop()  # the presence lease's thread (realtime.lease)
    calls.shutdown()  # the live room's database threads (realtime.calls)


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Hashing passwords the production way costs ~0.3 s a person; tests make many.
    (Browser tests log in with session cookies, so the server's hashers don't matter.)"""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def host(db):
    """A person with the facilitator permission."""
    return factories.make_user(host=True)


@pytest.fixture
def circle(db, host):
    return factories.make_circle(facilitator=host, name="Wednesday Men")


@pytest.fixture
def facilitator(circle):
    return factories.facilitator_of(circle)


@pytest.fixture
def member(circle):
    return factories.make_member(circle, alias="Sam")


@pytest.fixture
def library(db):
    """The built-in prompt library and scripts. The data migration loads them, but
    transactional tests truncate every table, so tests that need them ask here."""
    from facilitation.loading import load_library
    from facilitation.models import Prompt, Script, ScriptStep

    load_library(Prompt=Prompt, Script=Script, ScriptStep=ScriptStep)
