"""The room core: what every live-room action stands on.

One action on one meeting: lock the meeting row, re-read who is acting, check the
named guards, append numbered events to the log, publish them after commit. Above
groups (circles, memberships, meetings), below facilitation and realtime, which build
their actions on it. Nothing here knows a websocket frame.
"""
