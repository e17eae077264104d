"""Alias of `convonet_site.redis_manager`, so the seed guide's snippets run unchanged."""

import sys

from convonet_site import redis_manager as _facade

sys.modules[__name__] = _facade
