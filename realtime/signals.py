"""Events elsewhere that the live room must follow.

Account events: a socket is authenticated once, when it connects, so signing out or
changing the password closes it (4401), or it would keep speaking for a login that no
longer exists. Membership events (groups.signals): a person removed from a circle, or
leaving it, leaves its open rooms in the same transaction; changed agreements close the
members' sockets until they accept them again.
"""

from allauth.account.signals import password_changed, password_reset, password_set
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.utils import timezone

from groups.models import Meeting, MeetingStatus, Membership, MembershipStatus, Role
from groups.signals import agreements_changed, membership_ended, membership_ending, role_changed
from room import broadcast
from room.context import system_acting
from room.errors import CloseCode
from room.log import room_key
from room.models import Connection

from .services import lock_open_meetings_of, open_meetings_of, removed_from_room


@receiver(user_logged_out)
def close_the_logins_sockets(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        _close(Connection.objects.filter(session_hash=broadcast.session_hash(session_key)))


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def close_every_socket_of_the_person(sender, request, user, **kwargs) -> None:
    _close(Connection.objects.filter(membership__user=user))


def _close(sockets) -> None:
    """Close these sockets (4401), each through its meeting's fan-out, after commit."""
    by_meeting: dict[str, list[list]] = {}
    for socket in sockets.select_related("meeting"):
        closes = by_meeting.setdefault(room_key(socket.meeting), [])
        closes.append([broadcast.connection(socket.pk), CloseCode.NOT_LOGGED_IN])
    for key, closes in by_meeting.items():
        broadcast.to_meeting_on_commit(key, {"close": closes})


@receiver(membership_ending)
def lock_his_rooms(sender, membership: Membership, **kwargs) -> None:
    """Meetings first, then the circle: the one lock order (room.log.lock_meeting)."""
    lock_open_meetings_of(membership)


@receiver(membership_ended)
def let_him_out_of_his_rooms(sender, membership: Membership, actor: Membership, **kwargs):
    if membership.status not in (MembershipStatus.REMOVED, MembershipStatus.LEFT):
        return
    now = timezone.now()
    for meeting_pk in open_meetings_of(membership):
        with system_acting(meeting_pk=meeting_pk, actor=actor, now=now) as room:
            removed_from_room(room, membership)


@receiver(agreements_changed)
def close_the_members_rooms(sender, circle, **kwargs) -> None:
    """They accept the new agreements before they next enter: their open rooms close
    (4403) now, rather than at their next frame."""
    members = circle.memberships.filter(status=MembershipStatus.ACTIVE, role=Role.MEMBER)
    meetings = circle.meetings.filter(status__in=[MeetingStatus.SCHEDULED, MeetingStatus.LIVE])
    closes = [
        [broadcast.member(pk), CloseCode.NOT_ALLOWED] for pk in members.values_list("pk", flat=True)
    ]
    for meeting in meetings:
        broadcast.to_meeting_on_commit(room_key(meeting), {"close": closes})


@receiver(role_changed)
def reseat_him(sender, membership: Membership, **kwargs) -> None:
    """A socket's rights to facilitators' frames are fixed at connect: his sockets in
    open meetings reconnect (4012) and are seated with the new role."""
    close = {"close": [[broadcast.member(membership.pk), CloseCode.LAYER_LOST]]}
    meetings = Meeting.objects.filter(
        circle_id=membership.circle_id,
        status__in=[MeetingStatus.SCHEDULED, MeetingStatus.LIVE],
    )
    for meeting in meetings:
        broadcast.to_meeting_on_commit(room_key(meeting), close)
