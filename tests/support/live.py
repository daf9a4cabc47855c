"""Where a subprocess (daphne) finds the test database pytest-django created."""

from __future__ import annotations

import os

from django.conf import settings


def database_url_for_tests() -> str:
    """DATABASE_URL with the database name swapped for the test database's."""
    db = settings.DATABASES["default"]
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{db['NAME']}"


def redis_url() -> str | None:
    return os.environ.get("REDIS_URL") or None
