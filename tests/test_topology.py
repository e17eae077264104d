"""The production topology (`make prod`'s processes) end to end through nginx: pages, static files, both
WebSockets, a recording and the notification it causes, with Redis reached through its Sentinels."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from django.urls import reverse

from devtools.live_ws import WsClient
from devtools.topology import MASTER_NAME
from tests.topology import scrape_metrics, session_cookie

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_pages_static_files_and_health_through_nginx(prod_topology):
    for path in ("/", "/accounts/login/", "/static/convonet/site.css"):
        status, _ = get(prod_topology.url + path)
        assert status == 200, path
    with urllib.request.urlopen(prod_topology.url + "/static/convonet/site.css", timeout=10) as response:
        assert response.headers["Server"].startswith("nginx")  # served by nginx, not by a daphne
        assert response.headers["Cache-Control"] == "max-age=2592000"
    status, body = get(prod_topology.url + "/healthz")
    health = json.loads(body)
    assert status == 200
    assert health["redis_topology"] == {"mode": "sentinel", "master": "up", "replicas": 1, "sentinels_ok": 3}


def test_a_recording_its_notification_and_the_assistants_answer_through_nginx(prod_topology, make_user):
    cookie = session_cookie(make_user("ann"))
    chunk = bytes(range(256)) * 8

    async def scenario() -> tuple[dict, dict]:
        bell = await WsClient.connect(prod_topology.url, "/ws/notifications/", cookie=cookie)
        await bell.expect("ready", timeout=10)
        voice = await WsClient.connect(prod_topology.url, cookie=cookie)
        assert (await voice.expect("session", timeout=10))["authenticated"] is True
        await voice.send(type="start_recording")
        await voice.expect("recording_started", timeout=10)
        for _ in range(5):
            await voice.connection.send(chunk)
        await voice.send(type="stop_recording")
        stopped = await voice.expect("recording_stopped", timeout=10)
        notification = await bell.expect("notification", timeout=10)
        # The assistant's job went through the queue (reached through the Sentinels) to the worker and back.
        answer = await voice.expect("assistant_error", timeout=60)
        await voice.close()
        await bell.close()
        return stopped, notification, answer

    stopped, notification, answer = asyncio.run(scenario())
    assert answer["code"] == "undecodable_audio"  # the bytes sent are not audio: the worker says so
    assert stopped["audio_bytes"] == 5 * len(chunk)
    assert notification["notification"]["type"] == "voice_message"
    assert notification["notification"]["audio_bytes"] == 5 * len(chunk)
    # Stored on the master the Sentinels name, by processes that only know the Sentinels.
    master = prod_topology.redis_client(prod_topology.current_master_port())
    history = f"notifications:history:{notification['channel']}"
    assert master.zcount(history, notification["id"], notification["id"]) == 1
    # Each process's /metrics through nginx (/metrics/N): the audio went through one of them.
    assert get(f"{prod_topology.url}/metrics/1")[0] == 401
    scraped = [scrape_metrics(prod_topology, n) for n in (1, 2)]
    assert sum(s[("convonet_voice_audio_bytes_in_total", ())] for s in scraped) == 5 * len(chunk)
    assert sum(s[("convonet_voice_recordings_total", (("outcome", "finished"),))] for s in scraped) == 1
    assert sum(s[("convonet_notifications_delivered_total", ())] for s in scraped) >= 1
    assert all(s[("convonet_redis_sentinels_ok", ())] == 3 for s in scraped)
    assert all(s[("convonet_assistant_workers", ())] == 1 for s in scraped)
    assert scraped[0][("convonet_assistant_jobs", (("state", "failed"),))] == 0


def test_healthz_and_the_admin_redis_page_show_the_current_master_and_replica(prod_topology, make_user):
    staff = make_user("ops", staff=True, perms=("analytics.view_redis",))
    request = urllib.request.Request(
        prod_topology.url + reverse("admin:analytics_redispage_fragment"), headers={"Cookie": session_cookie(staff)}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        page = response.read().decode()
    master, replica = prod_topology.redis_ports["master"], prod_topology.redis_ports["replica"]
    assert f"Topology (sentinel, service {MASTER_NAME})" in page
    assert f"<th>master</th><td>127.0.0.1:{master}" in page
    assert f"<th>replica</th><td>127.0.0.1:{replica}" in page
    assert page.count(": answers</td>") == 3
    request = urllib.request.Request(f"{prod_topology.url}/healthz", headers={"Cookie": session_cookie(staff)})
    with urllib.request.urlopen(request, timeout=10) as response:
        topology = json.loads(response.read())["redis_topology"]
    assert topology["master"] == f"127.0.0.1:{master}"
    assert [r["address"] for r in topology["replicas"]] == [f"127.0.0.1:{replica}"]
