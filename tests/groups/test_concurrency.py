"""Races on PostgreSQL: the rules hold when people act at the same moment.

Each test starts its callers together (a barrier), each on its own database connection,
and the rule checks are slowed down so that, without the row locks, every caller would
pass the check before any of them wrote. With the locks, the second caller waits and
then sees the first one's committed change.
"""

import threading
import time
from collections.abc import Callable

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection

from groups import services
from groups.models import Circle, CircleKind, Membership, MembershipStatus, Role
from groups.services import CircleRuleError
from tests.factories import facilitator_of, make_circle, make_member, make_user

pytestmark = pytest.mark.django_db(transaction=True)

SLOW = 0.3  # seconds each slowed check holds its transaction open


@pytest.fixture
def slow_checks(monkeypatch):
    """Widen the gap between a rule's check and the write that follows it."""

    def slowed(check: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            result = check(*args, **kwargs)
            if threading.current_thread() is not threading.main_thread():  # racers only
                time.sleep(SLOW)
            return result

        return wrapper

    checks = ("_ensure_seat", "_ensure_worlds_apart", "_ensure_alias_free")
    for name in (*checks, "_ensure_another_facilitator"):
        monkeypatch.setattr(services, name, slowed(getattr(services, name)))


def race(*calls: Callable[[], object]) -> list[tuple[str, object]]:
    """Run the calls at the same moment, each in its own thread and connection.
    Returns ("ok", value) or ("error", exception) per call, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[tuple[str, object]] = [("missing", None)] * len(calls)

    def run(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = ("ok", call())
        except Exception as exc:  # noqa: BLE001 (the test inspects it)
            results[index] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a caller is stuck (deadlock?)"
    return results


def outcomes(results) -> tuple[int, list]:
    wins = sum(1 for kind, _ in results if kind == "ok")
    errors = [value for kind, value in results if kind == "error"]
    return wins, errors


def rule_codes(errors) -> set[str]:
    assert all(isinstance(e, CircleRuleError) for e in errors), errors
    return {e.code for e in errors}


def active_members(circle: Circle) -> int:
    return Membership.objects.filter(
        circle=circle, status=MembershipStatus.ACTIVE, role=Role.MEMBER
    ).count()


# The last seat -----------------------------------------------------------------------------


def test_two_approvals_for_the_last_seat_let_one_person_in(slow_checks):
    circle = make_circle(capacity=2)
    make_member(circle)
    host = facilitator_of(circle)
    waiting = [
        services.membership_request(user=make_user(), circle=circle, alias=f"Waiting {n}")
        for n in range(2)
    ]

    results = race(
        *(lambda m=m: services.membership_approve(actor=host, membership=m) for m in waiting)
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"circle_full"}
    assert active_members(circle) == 2
    assert sorted(
        Membership.objects.filter(pk__in=[m.pk for m in waiting]).values_list("status", flat=True)
    ) == [MembershipStatus.ACTIVE, MembershipStatus.REQUESTED]


def test_several_invited_people_racing_for_the_last_seat_let_one_in(slow_checks):
    circle = make_circle(capacity=2)
    make_member(circle)
    services.circle_update(actor=facilitator_of(circle), circle=circle, listed=False)
    invite = services.invite_create(actor=facilitator_of(circle), circle=circle)
    people = [make_user() for _ in range(4)]

    results = race(
        *(
            lambda p=p, n=n: services.membership_request(
                user=p, circle=circle, alias=f"Guest {n}", invite=invite
            )
            for n, p in enumerate(people)
        )
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"circle_full"}
    assert active_members(circle) == 2
    assert Membership.objects.filter(user__in=people).count() == 1


def test_an_approval_and_an_invited_person_racing_for_the_last_seat(slow_checks):
    circle = make_circle(capacity=2)
    make_member(circle)
    host = facilitator_of(circle)
    waiting = services.membership_request(user=make_user(), circle=circle, alias="Waiting")
    invite = services.invite_create(actor=host, circle=circle)

    results = race(
        lambda: services.membership_approve(actor=host, membership=waiting),
        lambda: services.membership_request(
            user=make_user(), circle=circle, alias="Invited", invite=invite
        ),
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"circle_full"}
    assert active_members(circle) == 2


def test_lowering_the_seats_while_approving_never_overfills_the_circle(slow_checks):
    circle = make_circle(capacity=3)
    make_member(circle)
    make_member(circle)
    host = facilitator_of(circle)
    waiting = services.membership_request(user=make_user(), circle=circle, alias="Waiting")

    results = race(
        lambda: services.membership_approve(actor=host, membership=waiting),
        lambda: services.circle_update(actor=host, circle=circle, capacity=2),
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) <= {"circle_full", "capacity_below_members"}
    circle.refresh_from_db()
    assert active_members(circle) <= circle.capacity
    assert (active_members(circle), circle.capacity) in {(3, 3), (2, 2)}


# Men's circles and partner circles ----------------------------------------------------------


@pytest.mark.parametrize("with_invites", [False, True], ids=["requests", "invites"])
def test_one_person_joining_both_kinds_at_once_gets_into_one_at_most(slow_checks, with_invites):
    men = make_circle(kind=CircleKind.MEN)
    partners = make_circle(kind=CircleKind.PARTNERS)
    person = make_user()
    invites = {
        c.pk: services.invite_create(actor=facilitator_of(c), circle=c) if with_invites else None
        for c in (men, partners)
    }

    results = race(
        *(
            lambda c=c: services.membership_request(
                user=person, circle=c, alias="Both", invite=invites[c.pk]
            )
            for c in (men, partners)
        )
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"separate_worlds"}
    kinds = set(Membership.objects.filter(user=person).values_list("circle__kind", flat=True))
    assert len(kinds) == 1


def test_approving_while_the_person_joins_the_other_kind_lets_one_through(slow_checks):
    """He asked a men's circle; a partner circle's invite is accepted at the same moment
    as the men's facilitator approves. The pending request already counts, so the invite
    is refused whichever comes first, and he ends up in one kind only."""
    men = make_circle(kind=CircleKind.MEN)
    partners = make_circle(kind=CircleKind.PARTNERS)
    person = make_user()
    pending = services.membership_request(user=person, circle=men, alias="Him")
    invite = services.invite_create(actor=facilitator_of(partners), circle=partners)

    results = race(
        lambda: services.membership_approve(actor=facilitator_of(men), membership=pending),
        lambda: services.membership_request(
            user=person, circle=partners, alias="Him", invite=invite
        ),
    )

    assert results[0][0] == "ok"
    assert rule_codes([results[1][1]]) == {"separate_worlds"}
    assert not Membership.objects.filter(user=person, circle=partners).exists()


# Names and facilitators ------------------------------------------------------------------------


def test_two_people_asking_for_the_same_name_at_once(slow_checks):
    circle = make_circle()

    results = race(
        *(
            lambda a=a: services.membership_request(user=make_user(), circle=circle, alias=a)
            for a in ("Sam", "sam ")
        )
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"alias_taken"}
    assert circle.memberships.filter(alias__iexact="sam").count() == 1


def test_two_members_renaming_to_the_same_name_at_once(slow_checks):
    circle = make_circle()
    first, second = make_member(circle, alias="One"), make_member(circle, alias="Two")

    results = race(
        *(
            lambda m=m: services.membership_update_profile(membership=m, alias="Same", intention="")
            for m in (first, second)
        )
    )

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"alias_taken"}
    assert circle.memberships.filter(alias="Same").count() == 1


def test_two_facilitators_leaving_at_once_leave_one_behind(slow_checks):
    circle = make_circle()
    host = facilitator_of(circle)
    helper = services.membership_set_role(
        actor=host, membership=make_member(circle), role=Role.FACILITATOR
    )

    results = race(*(lambda m=m: services.membership_leave(membership=m) for m in (host, helper)))

    wins, errors = outcomes(results)
    assert wins == 1
    assert rule_codes(errors) == {"last_facilitator"}
    assert circle.memberships.filter(role=Role.FACILITATOR, status="active").count() == 1


def test_two_facilitators_stepping_each_other_down_at_once_leave_one(slow_checks):
    circle = make_circle(capacity=5)
    host = facilitator_of(circle)
    helper = services.membership_set_role(
        actor=host, membership=make_member(circle), role=Role.FACILITATOR
    )

    results = race(
        lambda: services.membership_set_role(actor=host, membership=helper, role=Role.MEMBER),
        lambda: services.membership_set_role(actor=helper, membership=host, role=Role.MEMBER),
    )

    wins, errors = outcomes(results)
    assert wins == 1
    # Whoever goes second was stepped down a moment ago and may no longer act.
    assert [type(e) for e in errors] == [PermissionDenied]
    assert circle.memberships.filter(role=Role.FACILITATOR, status="active").count() == 1
