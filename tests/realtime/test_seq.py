import threading

import pytest
from django.db import connection
from django.utils import timezone

from groups.models import MeetingStatus
from realtime import services
from realtime.models import MeetingEvent
from tests import factories


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers(circle, monkeypatch):
    monkeypatch.setattr(services, "CHAT_RATE_COUNT", 1000)
    meeting = factories.make_meeting(circle, status=MeetingStatus.LIVE)
    members = [factories.make_member(circle) for _ in range(4)]
    seats = [
        services.Seat(meeting_pk=meeting.pk, membership_id=m.pk, user_id=m.user_id, is_facilitator=False)
        for m in members
    ]
    barrier = threading.Barrier(4)
    errors = []

    def write(seat):
        try:
            barrier.wait()
            for i in range(25):
                services.chat_send(seat=seat, body=f"m{i}", client_id=f"{seat.membership_id}-{i}", now=timezone.now())
        except Exception as e:
            errors.append(repr(e))
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(s,)) for s in seats]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(errors[:3])
    seqs = list(MeetingEvent.objects.filter(meeting=meeting).values_list("seq", flat=True))
    assert not errors
    assert seqs == list(range(1, 101))
