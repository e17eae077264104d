import time

from infra.fallback import MemoryStore


def test_it_honours_ttls_like_redis():
    store = MemoryStore()
    store.set("a", "1", ex=0.2)
    store.set("b", "2")
    assert store.ttl("a") in (0, 1)
    assert store.ttl("b") == -1
    assert store.ttl("missing") == -2
    time.sleep(0.25)
    assert store.get("a") is None
    assert store.exists("a") == 0
    assert store.ttl("a") == -2


def test_append_and_hset_keep_the_ttl_but_set_drops_it():
    store = MemoryStore()
    store.hset("h", mapping={"x": "1"})
    store.expire("h", 100)
    store.hset("h", "y", "2")
    assert store.ttl("h") == 100
    assert store.hgetall("h") == {"x": "1", "y": "2"}
    store.append("audio", b"ab")
    store.expire("audio", 50)
    assert store.append("audio", b"cd") == 4
    assert store.ttl("audio") == 50
    assert store.get("audio") == b"abcd"
    store.set("audio", b"")
    assert store.ttl("audio") == -1


def test_it_evicts_the_soonest_to_expire_when_full():
    store = MemoryStore(max_keys=2)
    store.set("long", "1", ex=100)
    store.set("short", "1", ex=10)
    store.set("new", "1", ex=50)
    assert store.exists("long", "new") == 2
    assert store.exists("short") == 0


def test_it_scans_by_pattern():
    store = MemoryStore()
    store.set("session:a", "1")
    store.set("other", "1")
    assert list(store.scan_iter(match="session:*")) == ["session:a"]
