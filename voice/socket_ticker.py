"""The voice socket's periodic work, done once per process for all its sockets on the event loop's ticker
(`infra.ticker`): presence heartbeats (the caps' lease renewal is `infra.socket_caps.CAPS_RENEWAL`, shared with
the notification sockets).

Each was a task per socket (a coroutine, its frame and a timer on every idle connection) and one Redis round
trip per socket per period. Now a period costs one pipeline of heartbeats and one pipeline reading who is online
in every team concerned, whatever the number of sockets.
"""

from __future__ import annotations

import logging
from typing import Any

from infra.ticker import Duty

from . import presence

log = logging.getLogger(__name__)


async def _heartbeat(parts: list[Any]) -> None:
    """Keep these connections online, notice teammates whose process died, push each its teammates if changed
    (`parts`: the sockets' `voice.presence_consumer.Presence` parts)."""
    came_online = await presence.aheartbeat_many([(p.user_id, p.channel_name, p.call_teams) for p in parts])
    online = await presence.aonline_by_team({team for p in parts for team in p.call_teams})
    for part, came in zip(parts, came_online, strict=True):
        try:
            if not part.heartbeating:  # it left while the beat was on its way: take back what the beat wrote
                await presence.aleave(part.user_id, part.channel_name, part.call_teams)
                continue
            if came:
                await part.announce_presence()
            users = {user for team in part.call_teams for user in online.get(team, ())} - {part.user_id}
            await part.push_presence(sorted(users))
        except Exception:  # one closed socket must not keep the others from their presence
            log.exception("presence push failed")


#: Members: the presence parts of authenticated voice sockets (`voice.presence_consumer.Presence`).
PRESENCE_HEARTBEAT = Duty("presence heartbeat", lambda: presence.HEARTBEAT_INTERVAL, _heartbeat)
