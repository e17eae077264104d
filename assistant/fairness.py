"""Fair sharing of the assistant's workers: at most `VOICE_ASSISTANT_MAX_QUEUED_PER_USER` commands of one user
queued or running at once (one user's three 25 s commands made another's "help" wait 70 s on one worker).

The owner of `assistant:queued:{user id}`: a sorted set of the user's job ids, scored by when each stops counting
(its longest possible life: queued, then run), so a job whose worker died stops counting by itself. A job takes
its place when it is queued (one Lua script: drop the expired, count, add under the limit, set the TTL) and gives
it back when it ends.
"""

from __future__ import annotations

import django_rq
from django.conf import settings

from infra.scripts import LuaScript

# KEYS: the user's set. ARGV: job id, seconds the place lasts, limit. Returns 1 when taken, 0 when full.
_TAKE = LuaScript(
    """
local now = tonumber(redis.call('TIME')[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
)


def queued_key(user_id: int) -> str:
    return f"assistant:queued:{int(user_id)}"


def _connection():
    return django_rq.get_connection(settings.VOICE_ASSISTANT_QUEUE)


def take_place(user_id: int, job_id: str, seconds: int) -> bool:
    """Count job `job_id` among the user's for at most `seconds`; False when the user has the most already."""
    limit = settings.VOICE_ASSISTANT_MAX_QUEUED_PER_USER
    return bool(_TAKE(_connection(), [queued_key(user_id)], [job_id, seconds, limit]))


def give_back(user_id: int, job_id: str) -> None:
    """The job ended: its place is free."""
    _connection().zrem(queued_key(user_id), job_id)
