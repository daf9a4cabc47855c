"""What groups tells the layers above it when a membership or a circle changes, so
live rooms follow without groups knowing of them (realtime.signals listens).

Sent inside the service's transaction. `membership_ending` comes first, before the
service locks the circle, so that rooms can lock their meetings in the one lock order
the project keeps: meetings first, then the circle.
"""

from django.dispatch import Signal

membership_ending = Signal()  # membership: about to be removed, or to leave
membership_ended = Signal()  # membership (now REMOVED or LEFT), actor
agreements_changed = Signal()  # circle: members accept them again before they next enter
role_changed = Signal()  # membership: now a facilitator, or no longer one
