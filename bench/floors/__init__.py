"""The floors Hearth is measured against: servers that do nothing but relay chat.

They speak just enough of the live protocol (snapshot on connect, ack per frame,
`chat.message` to everyone in the room, sender included) for the same load generator
to drive them, and check nothing: no session, no database, no rules. What Hearth
costs above them is the price of being a real product; the benchmark shows the ratio.
"""
