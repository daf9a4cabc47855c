import pytest

from tests.realtime.conftest import users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_chat_reaches_everyone(room, facilitator, member, ws_connect):
    sam_user, host_user = await users_of(member, facilitator)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        reply = await sam.request({"type": "chat.send", "body": "hello", "client_id": "a1"})
        assert reply["type"] == "ack", reply
        seen = await host.receive_until(lambda f: f.get("type") == "chat.message")
        assert seen["body"] == "hello"
        assert seen["seq"] == reply["seq"]


async def test_removal_from_the_manage_page_closes_his_socket(
    room, facilitator, member, ws_connect
):
    """The page's button (groups.services, heard through groups.signals) does what the
    room's member.remove does."""
    from channels.db import database_sync_to_async

    from groups.services import membership_remove

    sam_user, host_user = await users_of(member, facilitator)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        await database_sync_to_async(membership_remove)(actor=facilitator, membership=member)
        removed = await host.receive_until(lambda f: f.get("type") == "member.removed")
        assert removed["membership_id"] == member.pk
        closed = await sam.communicator.receive_output(timeout=3)
        while closed["type"] != "websocket.close":
            closed = await sam.communicator.receive_output(timeout=3)
        assert closed["code"] == 4403


async def test_leaving_the_circle_lets_go_of_the_room(room, facilitator, member, ws_connect):
    from channels.db import database_sync_to_async

    from groups.services import membership_leave

    sam_user, host_user = await users_of(member, facilitator)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        await database_sync_to_async(membership_leave)(membership=member)
        left = await host.receive_until(lambda f: f.get("type") == "member.left")
        assert left["membership_id"] == member.pk
        closed = await sam.communicator.receive_output(timeout=3)
        while closed["type"] != "websocket.close":
            closed = await sam.communicator.receive_output(timeout=3)
        assert closed["code"] == 4403


async def test_changed_agreements_close_members_rooms(room, facilitator, member, ws_connect):
    """Members accept changed agreements before they go on; facilitators stay."""
    from channels.db import database_sync_to_async

    from groups.services import circle_update

    sam_user, host_user = await users_of(member, facilitator)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        circle = await database_sync_to_async(
            lambda: type(room.circle).objects.get(pk=room.circle_id)
        )()
        await database_sync_to_async(circle_update)(
            actor=facilitator, circle=circle, agreements="We listen. We keep it here."
        )
        closed = await sam.communicator.receive_output(timeout=3)
        while closed["type"] != "websocket.close":
            closed = await sam.communicator.receive_output(timeout=3)
        assert closed["code"] == 4403
        reply = await host.request({"type": "chat.send", "body": "still here", "client_id": "h1"})
        assert reply["type"] == "ack"
