import pytest

from groups.models import MeetingStatus
from tests import factories
from tests.realtime.conftest import users_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def room(circle):
    return factories.make_meeting(circle, status=MeetingStatus.LIVE)


async def test_chat_reaches_everyone(room, facilitator, member, ws_connect):
    sam_user, host_user = await users_of(member, facilitator)
    async with ws_connect(sam_user, room) as sam, ws_connect(host_user, room) as host:
        reply = await sam.request({"type": "chat.send", "body": "hello", "client_id": "a1"})
        assert reply["type"] == "ack", reply
        seen = await host.receive_until(lambda f: f.get("type") == "chat.message")
        assert seen["body"] == "hello"
        assert seen["seq"] == reply["seq"]
