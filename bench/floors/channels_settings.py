"""Settings for the bare Channels relay: nothing but Channels and the channel layer.

The layer is Hearth's own (`config.settings.CHANNEL_LAYERS`, from REDIS_URL), so the
floor and Hearth use the same capacity, expiry and pool; `BENCH_LAYER=pubsub` swaps in
RedisPubSubChannelLayer on the same Redis.
"""

import os

from config.settings import CHANNEL_LAYERS as HEARTH_CHANNEL_LAYERS

SECRET_KEY = "bench-relay-only"  # noqa: S105 (a throwaway loopback server)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["daphne", "channels"]
ASGI_APPLICATION = "bench.floors.channels_relay.application"
USE_TZ = True

if os.environ.get("BENCH_LAYER") == "pubsub":
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
        }
    }
else:
    CHANNEL_LAYERS = HEARTH_CHANNEL_LAYERS
