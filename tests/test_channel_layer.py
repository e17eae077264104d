"""The Redis channel layer as configured: an idle consumer waits without its connection timing out."""

import asyncio

import pytest
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer


def test_reads_may_outlast_the_layers_blocking_wait():
    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    assert layer.hosts[0]["socket_timeout"] > layer.brpop_timeout


@pytest.mark.slow
async def test_an_idle_receive_waits_past_redis_pys_default_timeout():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    # redis-py 8 gives up reading after 5 s by default; a receive with nothing to read must just keep waiting.
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), timeout=6.5)
    await layer.send(channel, {"type": "still.alive"})
    assert (await asyncio.wait_for(layer.receive(channel), timeout=5))["type"] == "still.alive"
    await layer.flush()


async def test_a_burst_of_sends_larger_than_the_pool_waits_for_connections(settings, caplog):
    """300 sends at once on a 20-connection pool all arrive: channels-redis's own pool raised MaxConnectionsError
    past 100, and the layer reported it as Redis being unusable (issue 13: 1,000 stops on one daphne)."""
    from infra.channel_layer import ResilientRedisChannelLayer, _fallback

    settings.REDIS_ASYNC_MAX_CONNECTIONS = 20
    layer = ResilientRedisChannelLayer(**settings.CHANNEL_LAYERS["default"]["CONFIG"])
    channels = [f"{await layer.new_channel()}{i}" for i in range(300)]
    before = _fallback.count
    await asyncio.gather(*(layer.send(channel, {"type": "burst", "n": i}) for i, channel in enumerate(channels)))
    assert _fallback.count == before
    assert not [r for r in caplog.records if "is unavailable" in r.getMessage()]
    received = [await asyncio.wait_for(layer.receive(channel), timeout=10) for channel in channels[:5]]
    assert [message["n"] for message in received] == [0, 1, 2, 3, 4]
    await layer.flush()
