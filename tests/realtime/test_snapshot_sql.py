"""The snapshot's statements written by hand (room.rows) read what the querysets they
replaced read: the same prompts (facilitation.library_services.library_filter), the
same members, agenda and events."""

import datetime as dt

import pytest
from django.db.models import Max
from django.utils import timezone

from facilitation.library_services import library_filter
from facilitation.models import Prompt, PromptUse, Script
from facilitation.services import BUILT_IN_SCRIPT_FOR_KIND
from groups.models import CircleKind, MembershipStatus
from realtime.selectors import meeting_snapshot
from room.models import MeetingEvent
from tests import factories

pytestmark = pytest.mark.django_db


def own_prompt(circle, text: str) -> Prompt:
    return Prompt.objects.create(
        text=text, strategy="storytelling", kind="both", phase="opening", depth=1, circle=circle
    )


def test_the_prompt_library_is_the_one_library_filter_allows(library, circle, facilitator):
    mine = own_prompt(circle, "What are you carrying into tonight?")
    elsewhere = factories.make_circle(kind=CircleKind.PARTNERS)
    theirs = own_prompt(elsewhere, "Something only the other circle may use.")
    meeting = factories.make_meeting(circle)
    used_at = timezone.now() - dt.timedelta(days=7)
    for days in (0, 14):  # the newest use is the one shown
        PromptUse.objects.create(
            prompt=mine, circle=circle, meeting=meeting, used_at=used_at - dt.timedelta(days=days)
        )
    seat = factories.enter_room(facilitator, meeting)

    shown = meeting_snapshot(meeting_pk=meeting.pk, membership_id=seat.membership_id)
    library_ = shown["facilitator"]["prompts"]

    allowed = Prompt.objects.filter(library_filter(circle)).order_by("phase", "depth", "pk")
    assert [p["id"] for p in library_] == [p.pk for p in allowed]
    assert theirs.pk not in {p["id"] for p in library_}
    assert not Prompt.objects.filter(pk__in=[p["id"] for p in library_], kind="partners").exists()
    by_id = {p["id"]: p for p in library_}
    assert by_id[mine.pk]["own"] is True
    assert by_id[mine.pk]["last_used"] == used_at.isoformat()
    newest = PromptUse.objects.filter(circle=circle).aggregate(newest=Max("used_at"))["newest"]
    assert by_id[mine.pk]["last_used"] == newest.isoformat()
    assert all(p["last_used"] is None for p in library_ if p["id"] != mine.pk)


def test_members_agenda_and_events_are_those_of_the_meeting(library, circle, facilitator):
    zed = factories.make_member(circle, alias="Zed")
    amir = factories.make_member(circle, alias="Amir")
    gone = factories.make_member(circle, alias="Gone")
    gone.status = MembershipStatus.LEFT
    gone.save(update_fields=["status"])
    meeting = factories.make_meeting(circle)
    seat = factories.enter_room(zed, meeting)
    for n in range(3):
        MeetingEvent.objects.create(
            meeting=meeting,
            seq=n + 1,
            type="chat.message",
            payload={"body": f"line {n}", "author": {"membership_id": zed.pk}},
            actor=zed,
            created_at=timezone.now(),
        )

    shown = meeting_snapshot(meeting_pk=meeting.pk, membership_id=seat.membership_id)

    assert [m["alias"] for m in shown["members"]] == [
        m.alias
        for m in circle.memberships.filter(status=MembershipStatus.ACTIVE).order_by("role", "alias")
    ]
    assert {amir.pk, zed.pk, facilitator.pk} == {m["membership_id"] for m in shown["members"]}
    assert shown["you"]["alias"] == "Zed"
    assert shown["seq"] == 3
    assert [(e["seq"], e["body"]) for e in shown["events"]] == [
        (1, "line 0"),
        (2, "line 1"),
        (3, "line 2"),
    ]
    logged = MeetingEvent.objects.get(meeting=meeting, seq=3)
    assert shown["events"][-1]["at"] == logged.created_at.isoformat()
    built_in = Script.objects.get(key=BUILT_IN_SCRIPT_FOR_KIND[circle.kind])
    agenda = shown["meeting"]["agenda"]
    assert agenda["id"] == built_in.pk
    assert [s["id"] for s in agenda["steps"]] == list(
        built_in.steps.order_by("position").values_list("pk", flat=True)
    )
    assert all("notes" not in step for step in agenda["steps"])  # a member's view
