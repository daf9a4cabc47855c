"""Python's floor: a broadcast server written with the `websockets` package alone.

One process, rooms held in memory, keyed by the URL path. Run:
    python -m bench.floors.websockets_relay --port 9000
"""

import argparse
import asyncio
import json
from collections import defaultdict

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

from bench.floors import shapes

rooms: dict[str, set[ServerConnection]] = defaultdict(set)
seqs: dict[str, int] = defaultdict(int)


async def handle(connection: ServerConnection) -> None:
    room = connection.request.path if connection.request else "/"
    members = rooms[room]
    members.add(connection)
    try:
        await connection.send(shapes.SNAPSHOT)
        async for text in connection:
            frame = json.loads(text)
            seqs[room] += 1
            seq = seqs[room]
            await connection.send(shapes.ack(frame.get("id"), seq))
            if frame.get("type") == "chat.send":
                broadcast(members, shapes.chat_message(frame, seq))
    finally:
        members.discard(connection)


async def main(port: int) -> None:
    # No compression: daphne negotiates none either, so both floors do the same work.
    async with serve(handle, "127.0.0.1", port, compression=None, ping_interval=None, backlog=1024):
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    uvloop.run(main(parser.parse_args().port))
