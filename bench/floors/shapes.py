"""The few frames both floors send, built in one place so they stay the same shape
as Hearth's (docs/protocol.md): a snapshot first, an ack per frame, and chat.message."""

import json
from datetime import UTC, datetime
from typing import Any

SNAPSHOT = json.dumps({"type": "snapshot", "seq": 0, "events": []})


def ack(ref: Any, seq: int) -> str:
    return json.dumps({"type": "ack", "ref": ref, "seq": seq})


def chat_message(frame: dict[str, Any], seq: int) -> str:
    return json.dumps(
        {
            "type": "chat.message",
            "seq": seq,
            "at": datetime.now(UTC).isoformat(),
            "author": {"membership_id": 0, "alias": "relay", "role": "member"},
            "body": frame.get("body"),
            "client_id": frame.get("client_id"),
        }
    )
