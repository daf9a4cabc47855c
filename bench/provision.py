"""Provision the benchmark's circles and write the roster the load generator reads.

    DATABASE_URL=... python -m bench.provision --rooms 100 --members 10 --out roster.json

R circles of M members plus a facilitator each, every member welcomed and the
agreements accepted, and one live meeting per circle. It goes through the project's
own services (the same helpers `seed_demo` uses), so the load meets a room that obeys
every rule. Idempotent: a second run finds the people, circles and meetings in place.

Sessions: each client gets a real Django session made with the session engine
(`SessionStore`, as `django.contrib.auth.login` would store it), not the login form:
logging 1,000 people in through the form would benchmark password hashing, not the
room. The websocket carries it as the `sessionid` cookie.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BENCH_DOMAIN = "bench.invalid"


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def provision(*, rooms: int, members: int) -> dict:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Permission
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import transaction

    from accounts.models import User
    from groups import services
    from groups.models import Circle, CircleKind, Membership
    from realtime.management.commands.seed_demo import live_meeting_now, welcome_member
    from realtime.services import CHAT_RATE_COUNT, CHAT_RATE_SECONDS

    add_circle = Permission.objects.get(codename="add_circle")

    def person(email: str) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email, None)  # no password: a session is enough
        return user

    def session_for(user: User) -> str:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        return str(session.session_key)

    roster = []
    for r in range(rooms):
        with transaction.atomic():
            host_user = person(f"bench-host-{r:03d}@{BENCH_DOMAIN}")
            host_user.user_permissions.add(add_circle)
            host_user = User.objects.get(pk=host_user.pk)  # drop the permission cache
            name = f"Bench circle {r:03d}"
            circle = Circle.objects.filter(name=name).first() or services.circle_create(
                user=host_user,
                alias="Host",
                name=name,
                kind=CircleKind.MEN,
                description="A circle made by the benchmark.",
                weekday=0,
                start_time="19:00",
                time_zone="UTC",
                capacity=max(members, 2),
                listed=True,
                region="GB",
            )
            host = Membership.objects.get(user=host_user, circle=circle)
            clients = [{"role": "facilitator", "session": session_for(host_user)}]
            for m in range(members):
                user = person(f"bench-{r:03d}-{m:02d}@{BENCH_DOMAIN}")
                welcome_member(circle=circle, host=host, user=user, alias=f"Member {m:02d}")
                clients.append({"role": "member", "session": session_for(user)})
            meeting = live_meeting_now(circle=circle, host=host)
        roster.append({"meeting_id": str(meeting.public_id), "clients": clients})
    return {"rooms": roster, "chat_rate_per_member": CHAT_RATE_COUNT / CHAT_RATE_SECONDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.provision", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rooms", type=int, required=True, help="circles to provision")
    parser.add_argument("--members", type=int, required=True, help="members per circle (<= 15)")
    parser.add_argument("--out", type=Path, required=True, help="where to write the roster JSON")
    args = parser.parse_args(argv)
    _setup_django()
    roster = provision(rooms=args.rooms, members=args.members)
    args.out.write_text(json.dumps(roster))
    return 0


if __name__ == "__main__":
    sys.exit(main())
