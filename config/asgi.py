"""ASGI entry point: HTTP through Django, websockets through Channels.

Websockets must come from an allowed Origin and carry the Django session; the live
room's consumer then checks membership itself on connect and on every frame.
"""

import gc
import os
import sys

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from django.conf import settings  # noqa: E402

# The room's database threads hand the GIL back and forth with the event loop at every
# round trip to PostgreSQL; Python's default 5 ms switch interval made each wait up to
# that long (docs/performance.md).
sys.setswitchinterval(settings.HEARTH_GIL_SWITCH_SECONDS)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from realtime import pauses  # noqa: E402
from realtime.auth import room_auth_stack  # noqa: E402
from realtime.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(room_auth_stack(URLRouter(websocket_urlpatterns))),
    }
)

# Everything loaded so far lives as long as the process: kept out of the garbage
# collector's full passes, which otherwise walk it again each time the heap grows by a
# quarter (a storm of connects), holding the GIL (docs/performance.md, "idle").
gc.collect()
gc.freeze()
pauses.watch()
