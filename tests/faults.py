"""The six faults of the matrix, done to a throwaway redis-server and undone: what a failing Redis looks like.

- down: SIGKILL, then a restart on the same port from its AOF (`appendfsync always`: nothing acknowledged lost);
- read_only: `REPLICAOF 127.0.0.1 1`, what a Sentinel failover does to the old master's clients;
- oom: `maxmemory 1mb` with `noeviction`, past it (a ballast key), so every write is refused;
- slow: `DEBUG SLEEP` longer than the clients' socket timeout, so calls time out yet run afterwards;
- data_lost: FLUSHALL, what a restart without persistence leaves, with the same server running on;
- restart_empty: SIGKILL, then a real restart on the same port with persistence off and an empty data directory
  (a new `run_id`): down while it lasts, empty after.
"""

from __future__ import annotations

import threading
import time

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.redis_servers import ThrowawayRedis
from infra import redis_core

FAULTS = ("down", "read_only", "oom", "slow", "data_lost", "restart_empty")
#: Longer than the 1 s socket timeout of the settings: a call made meanwhile times out, then runs.
SLOW_SECONDS = 2.5
#: A PING unanswered this long means the server is asleep (loopback answers in well under a millisecond); the sleep
#: has most of its SLOW_SECONDS left when the case's calls begin.
ASLEEP_AFTER = 0.25
#: What keeps the data it had once healed (`data_lost` and `restart_empty` do not, by definition).
KEEPS_DATA = frozenset({"down", "read_only", "oom", "slow"})
#: Faults that make Redis unusable (owners on their fallback); after FLUSHALL Redis serves, empty.
UNUSABLE = KEEPS_DATA | {"restart_empty"}
#: How the manager names the loss it detects (`infra.redis_core`, health's `data_lost.last.cause`).
LOSS_CAUSES = {"data_lost": "flushed", "restart_empty": "restarted without its data"}


def recovery_deadline() -> float:
    """How long after the heal the app may take to be back on Redis, at production's check interval (every test
    runs at it): the check that notices (one `CHECK_INTERVAL` after the last, plus its own timeout), then the
    recovery's writes; four more intervals are for a loaded machine."""
    return 5 * redis_core.CHECK_INTERVAL + settings.REDIS_SOCKET_TIMEOUT


class Fault:
    def __init__(self, server: ThrowawayRedis, kind: str, db: int = 0) -> None:
        assert kind in FAULTS
        self.server, self.kind, self.db = server, kind, db
        self._sleeper: threading.Thread | None = None

    def _client(self, **options) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.server.port, db=self.db, **options)

    def start(self) -> None:
        client = self._client()
        if self.kind in ("down", "restart_empty"):
            self.server.stop()  # SIGKILL: the AOF (appendfsync always) already holds every acknowledged write
        elif self.kind == "read_only":
            client.replicaof("127.0.0.1", 1)
        elif self.kind == "oom":
            client.config_set("maxmemory-policy", "noeviction")
            client.set("fault:ballast", b"x" * 1_200_000, ex=600)
            client.config_set("maxmemory", "1mb")
        elif self.kind == "slow":
            probe = self._client(socket_timeout=ASLEEP_AFTER, retry=Retry(NoBackoff(), 0))
            probe.ping()  # connected before the sleep: the PINGs below measure the sleep, not a handshake
            sleeper = self._client(socket_timeout=SLOW_SECONDS + 10)
            self._sleeper = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", SLOW_SECONDS))
            self._sleeper.start()
            self._wait_until_asleep(probe)
        else:
            client.flushall()
        client.close()

    def _wait_until_asleep(self, probe: redis.Redis) -> None:
        """Returns once a PING goes unanswered: the sleep is in force (a fixed pause raced a loaded machine, and the
        case's first call then found Redis awake). `probe` retries nothing: redis-py's default retry would wait
        the sleep out."""
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                try:
                    probe.ping()
                except redis.TimeoutError:
                    return
                time.sleep(0.01)
        finally:
            probe.close()
        raise RuntimeError(f"DEBUG SLEEP {SLOW_SECONDS} did not take effect within 10 s")

    def heal(self) -> None:
        if self.kind == "down":
            self.server.start()
            return
        if self.kind == "restart_empty":
            self.server.restart_without_persistence()
            return
        if self.kind == "slow":
            self._sleeper.join()
            return
        client = self._client()
        if self.kind == "read_only":
            client.replicaof("NO", "ONE")
        elif self.kind == "oom":
            client.config_set("maxmemory", "0")
            client.delete("fault:ballast")
        client.close()
