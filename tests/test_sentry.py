"""Sentry reports each exception once, with no cookies, Authorization headers or Redis values."""

import json

import pytest
import sentry_sdk
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path, re_path
from sentry_sdk.transport import Transport

from convonet_site.sentry import init_sentry, wrap_websocket_app
from infra.redis_core import redis_manager

SECRET_VALUE = "pii-value-that-must-not-leave"


class CapturingTransport(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                self.events.append(json.loads(item.payload.get_bytes()))


def boom_view(request):
    redis_manager.redis_client.set("session:sentry-probe", SECRET_VALUE, ex=60)
    raise RuntimeError("view exploded")


def fine_view(request):
    return HttpResponse("ok")


urlpatterns = [path("boom", boom_view), path("fine", fine_view)]


class BoomConsumer(AsyncWebsocketConsumer):
    async def receive(self, text_data=None, bytes_data=None):
        await redis_manager.async_client().set("session:sentry-ws", SECRET_VALUE, ex=60)
        raise RuntimeError("consumer exploded")


@pytest.fixture
def transport():
    transport = CapturingTransport()
    init_sentry("https://public@sentry.invalid/1", environment="test", traces_sample_rate=1.0, transport=transport)
    yield transport
    sentry_sdk.get_client().close()
    sentry_sdk.init()


def flush():
    sentry_sdk.flush(timeout=5)


def test_it_reports_a_view_exception_once_without_secrets(transport, client):
    client.raise_request_exception = False
    with override_settings(ROOT_URLCONF=__name__):
        client.cookies["sessionid"] = "cookie-secret"
        response = client.get("/boom", HTTP_AUTHORIZATION="Bearer token-secret")
    assert response.status_code == 500
    flush()
    errors = [e for e in transport.events if e.get("exception")]
    assert len(errors) == 1
    assert errors[0]["exception"]["values"][-1]["value"] == "view exploded"
    text = json.dumps(errors[0])
    for secret in ("cookie-secret", "token-secret", SECRET_VALUE):
        assert secret not in text
    assert errors[0]["environment"] == "test"


async def test_it_reports_a_consumer_exception_once_without_secrets(transport):
    app = wrap_websocket_app(URLRouter([re_path(r"^ws/boom/$", BoomConsumer.as_asgi())]))
    communicator = WebsocketCommunicator(
        app, "/ws/boom/", headers=[(b"cookie", b"sessionid=cookie-secret"), (b"authorization", b"Bearer token-secret")]
    )
    connected, _ = await communicator.connect()
    assert connected
    await communicator.send_to(text_data="hello")
    with pytest.raises(RuntimeError, match="consumer exploded"):
        await communicator.wait(timeout=5)
    flush()
    errors = [e for e in transport.events if e.get("exception")]
    assert len(errors) == 1
    text = json.dumps(errors[0])
    for secret in ("cookie-secret", "token-secret", SECRET_VALUE):
        assert secret not in text
