"""Account events that end a person's open sockets: a socket is authenticated once, when
it connects, so signing out or changing the password must close it (4401), or it would
keep speaking for a login that no longer exists."""

from allauth.account.signals import password_changed, password_reset, password_set
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver

from . import broadcast
from .protocol import CloseCode


@receiver(user_logged_out)
def close_the_logins_sockets(sender, request, user, **kwargs) -> None:
    session_key = getattr(getattr(request, "session", None), "session_key", None)
    if session_key:
        broadcast.close_on_commit(broadcast.session_group(session_key), CloseCode.NOT_LOGGED_IN)


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def close_every_socket_of_the_person(sender, request, user, **kwargs) -> None:
    broadcast.close_on_commit(broadcast.user_group(user.pk), CloseCode.NOT_LOGGED_IN)
