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
