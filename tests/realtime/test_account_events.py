"""A socket is authenticated once, when it connects. Signing out closes the sockets of
that login (not the person's other devices); a new password closes all of his."""

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client as PageClient
from django.urls import reverse

from tests.realtime.conftest import session_cookie_for, users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

PASSWORD = "an-old-long-passphrase-1"


def _pages_for(cookie: str) -> PageClient:
    """The pages, logged in with the same session as a socket."""
    name, _, key = cookie.partition("=")
    pages = PageClient()
    pages.cookies[name] = key
    return pages


async def test_signing_out_closes_that_logins_socket_only(room, member, ws_connect):
    (sam_user,) = await users_of(member)
    phone = await session_cookie_for(sam_user)
    async with (
        ws_connect(sam_user, room, cookie=phone) as on_phone,
        ws_connect(sam_user, room) as on_laptop,
    ):
        response = await sync_to_async(_pages_for(phone).post)(reverse("account_logout"))
        assert response.status_code == 302
        assert await on_phone.receive_close() == 4401
        # His other device is another login: it stays in the room and can still talk.
        await on_laptop.still_works()


async def test_a_new_password_closes_every_socket_of_the_person(room, member, ws_connect):
    (sam_user,) = await users_of(member)

    def set_known_password() -> None:
        sam_user.set_password(PASSWORD)
        sam_user.save()

    await sync_to_async(set_known_password)()
    phone = await session_cookie_for(sam_user)
    async with (
        ws_connect(sam_user, room, cookie=phone) as on_phone,
        ws_connect(sam_user, room) as on_laptop,
    ):
        response = await sync_to_async(_pages_for(phone).post)(
            reverse("account_change_password"),
            {
                "oldpassword": PASSWORD,
                "password1": "a-new-long-passphrase-2",
                "password2": "a-new-long-passphrase-2",
            },
        )
        assert response.status_code == 302, response.content[:500]
        assert await on_phone.receive_close() == 4401
        assert await on_laptop.receive_close() == 4401


async def test_a_wrong_old_password_closes_nothing(room, member, ws_connect):
    (sam_user,) = await users_of(member)
    await sync_to_async(lambda: (sam_user.set_password(PASSWORD), sam_user.save()))()
    phone = await session_cookie_for(sam_user)
    async with ws_connect(sam_user, room, cookie=phone) as on_phone:
        response = await sync_to_async(_pages_for(phone).post)(
            reverse("account_change_password"),
            {
                "oldpassword": "not-it",
                "password1": "x-new-long-passphrase-3",
                "password2": "x-new-long-passphrase-3",
            },
        )
        assert response.status_code == 200
        await on_phone.still_works()
        assert settings.SESSION_COOKIE_NAME in phone
