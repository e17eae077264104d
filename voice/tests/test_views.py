"""The debug endpoints, the PIN page, the admin "Voice sessions" pages and the `voice_sessions` command."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command

from voice import session_listing, sessions
from voice.models import VoiceProfile

DEBUG_URL = "/convonet_todo/webrtc/debug-session/{}"
CLEAR_URL = "/convonet_todo/webrtc/clear-session/{}"


@pytest.fixture
def staff(make_user):
    return make_user("sam", staff=True, perms=("voice.view_voice_sessions",))


@pytest.fixture
def recorded(redis_db) -> str:
    sid = sessions.create_session(fields={"authenticated": "True", "user_id": "7", "user_name": "Alice Smith"})
    sessions.update_session(sid, {"is_recording": "True"})
    sessions.append_audio(sid, b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4)
    sessions.update_session(sid, {"is_recording": "False"})
    return sid


def test_debug_session_returns_the_seeds_json(client, staff, recorded):
    client.force_login(staff)
    response = client.get(DEBUG_URL.format(recorded))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["session_id"] == recorded and body["storage"] == "redis"
    data = body["data"]
    assert data["authenticated"] == "True" and data["user_id"] == "7" and data["user_name"] == "Alice Smith"
    assert data["is_recording"] == "False" and float(data["connected_at"]) > 0
    assert data["decoded_audio_length"] == 1028 and data["audio_buffer_length"] == 1372
    assert data["audio_buffer_preview"].startswith("GkXfo") and data["audio_buffer_preview"].endswith("...")
    assert data["base64_valid"] is True
    assert "audio_buffer" not in data and len(response.content) < 2000


@pytest.mark.parametrize("sid", ["nosuchsession", "a*", "x" * 65, "session:1"])
def test_debug_session_for_a_missing_or_malformed_id_is_a_json_404(client, staff, sid):
    client.force_login(staff)
    response = client.get(DEBUG_URL.format(sid))
    assert response.status_code == 404 and response.json()["success"] is False


def test_debug_endpoints_refuse_anonymous_and_non_staff_in_json(client, make_user, recorded, redis_db):
    for url in (DEBUG_URL.format(recorded), CLEAR_URL.format(recorded), "/convonet_todo/webrtc/sessions"):
        response = client.get(url)
        assert response.status_code == 401 and response.json()["success"] is False
        assert client.post(url).status_code == 401
    client.force_login(make_user("mallory"))
    for url in (DEBUG_URL.format(recorded), CLEAR_URL.format(recorded), "/convonet_todo/webrtc/sessions"):
        assert client.get(url).status_code == 403
        assert client.post(url).json()["success"] is False
    assert redis_db.exists(f"session:{recorded}")


JSON_FACES = [
    ("get", DEBUG_URL),
    ("get", CLEAR_URL),
    ("post", CLEAR_URL),
    ("get", "/convonet_todo/webrtc/sessions"),
    ("get", "/convonet_todo/webrtc/calls"),
]


@pytest.mark.parametrize(("method", "url"), JSON_FACES)
def test_staff_without_the_voice_sessions_permission_get_403_on_every_json_face(
    client, make_user, recorded, redis_db, method, url
):
    client.force_login(make_user("eve", staff=True))
    assert client.get("/admin/voice/voicesession/").status_code == 403  # the admin page refuses eve ...
    response = getattr(client, method)(url.format(recorded))
    assert response.status_code == 403 and response.json()["success"] is False  # ... and so does its JSON twin
    assert "audio_buffer_preview" not in response.content.decode()
    assert redis_db.exists(f"session:{recorded}")


@pytest.mark.parametrize(("method", "url"), JSON_FACES)
def test_staff_with_the_voice_sessions_permission_get_every_json_face(client, staff, recorded, method, url):
    client.force_login(staff)
    assert client.get("/admin/voice/voicesession/").status_code == 200
    assert getattr(client, method)(url.format(recorded)).status_code == 200


def test_debug_session_refuses_post(client, staff, recorded):
    client.force_login(staff)
    assert client.post(DEBUG_URL.format(recorded)).status_code == 405


def test_clear_session_get_confirms_and_never_deletes(client, staff, recorded, redis_db):
    client.force_login(staff)
    response = client.get(CLEAR_URL.format(recorded))
    assert response.status_code == 200
    assert b"Clear voice session?" in response.content and b"csrfmiddlewaretoken" in response.content
    assert redis_db.exists(f"session:{recorded}", f"session:{recorded}:audio") == 2


def test_clear_session_post_needs_csrf_then_clears(staff, recorded, redis_db):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post(CLEAR_URL.format(recorded)).status_code == 403
    assert redis_db.exists(f"session:{recorded}")
    page = client.get(CLEAR_URL.format(recorded))
    token = page.context["csrf_token"]
    response = client.post(CLEAR_URL.format(recorded), {"csrfmiddlewaretoken": str(token)})
    assert response.json() == {"success": True, "session_id": recorded, "message": "Session cleared"}
    assert not redis_db.exists(f"session:{recorded}", f"session:{recorded}:audio")
    assert client.post(CLEAR_URL.format(recorded), {"csrfmiddlewaretoken": str(token)}).status_code == 404


def test_sessions_json_has_the_same_counts_as_the_command(client, staff, recorded, capsys):
    client.force_login(staff)
    body = client.get("/convonet_todo/webrtc/sessions").json()
    call_command("voice_sessions", "list", "--json")
    from_command = json.loads(capsys.readouterr().out)
    assert body["stats"] == from_command["stats"] == session_listing.session_stats()
    assert body["stats"]["sessions"] == 1 and body["sessions"][0]["audio_bytes"] == 1028


def test_the_voice_page_loads_the_shared_script_and_the_calls_panel(client, make_user):
    response = client.get("/voice/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="pin-form"' in html and "voice/voice.js" in html and 'data-ws-path="/ws/voice/"' in html
    client.force_login(make_user("carol"))
    assert 'href="/voice/pin/"' in client.get("/voice/").content.decode()


def test_the_pin_page_needs_login_and_the_current_password(client, make_user):
    assert client.get("/voice/pin/").status_code == 302
    carol = make_user("carol")
    client.force_login(carol)
    assert client.get("/voice/pin/").status_code == 200
    wrong = client.post("/voice/pin/", {"current_password": "nope", "pin": "2468", "pin_confirm": "2468"})
    assert wrong.status_code == 200 and "incorrectly" in wrong.content.decode()
    for pin, confirm in (
        ("12", "12"),
        ("1234567", "1234567"),
        ("12a4a6", "12a4a6"),
        ("2468", "2468"),
        ("246801", "246802"),
    ):
        response = client.post("/voice/pin/", {"current_password": "carol-pw", "pin": pin, "pin_confirm": confirm})
        assert response.status_code == 200 and b'class="error"' in response.content
    assert not VoiceProfile.objects.filter(user=carol).exists()
    response = client.post("/voice/pin/", {"current_password": "carol-pw", "pin": "246801", "pin_confirm": "246801"})
    assert response.status_code == 302
    profile = VoiceProfile.objects.get(user=carol)
    assert profile.check_pin("246801") and "246801" not in profile.pin_hash
    assert "246801" not in client.get("/voice/pin/").content.decode()


def test_staff_reset_a_pin_in_the_admin(admin_client, make_user):
    dave = make_user("dave", pin="1357")
    profile = dave.voice_profile
    response = admin_client.post(
        "/admin/voice/voiceprofile/", {"action": "reset_pin", "_selected_action": [profile.pk]}, follow=True
    )
    assert response.status_code == 200
    profile.refresh_from_db()
    assert not profile.has_pin and not profile.check_pin("1357")


def test_admin_sessions_list_searches_sorts_and_counts(admin_client, recorded):
    other = sessions.create_session(fields={"authenticated": "True", "user_id": "8", "user_name": "Bob Jones"})
    page = admin_client.get("/admin/voice/voicesession/").content.decode()
    assert recorded in page and other in page and "2 sessions, 2 authenticated" in page
    found = admin_client.get("/admin/voice/voicesession/", {"q": "alice"}).content.decode()
    assert recorded in found and other not in found
    by_id = admin_client.get("/admin/voice/voicesession/", {"q": "8"}).content.decode()
    assert other in by_id and recorded not in by_id
    by_audio = admin_client.get("/admin/voice/voicesession/", {"o": "-audio"}).content.decode()
    assert by_audio.index(recorded) < by_audio.index(other)
    by_audio = admin_client.get("/admin/voice/voicesession/", {"o": "audio"}).content.decode()
    assert by_audio.index(other) < by_audio.index(recorded)
    assert admin_client.get("/admin/voice/voicesession/", {"o": "bogus"}).status_code == 400
    assert "Voice sessions" in admin_client.get("/admin/").content.decode()


def test_admin_detail_shows_every_field_and_streams_the_audio(admin_client, recorded):
    page = admin_client.get(f"/admin/voice/voicesession/{recorded}/").content.decode()
    for text in ("authenticated", "user_id", "Alice Smith", "connected_at", "authenticated_at", "TTL", "1028 bytes"):
        assert text in page
    assert re.search(r"connected_at</th><td>[0-9.]+ \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)", page)
    assert f"/admin/voice/voicesession/{recorded}/audio/" in page
    audio = admin_client.get(f"/admin/voice/voicesession/{recorded}/audio/")
    assert audio["Content-Type"] == "audio/webm" and audio["Content-Length"] == "1028"
    assert b"".join(audio.streaming_content) == b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4
    assert admin_client.get("/admin/voice/voicesession/nosuchsession/").status_code == 404
    assert admin_client.get("/admin/voice/voicesession/a%2A/audio/").status_code == 404


def test_admin_clear_asks_then_clears_on_post(admin_client, recorded, redis_db):
    url = f"/admin/voice/voicesession/{recorded}/clear/"
    assert "Yes, clear it" in admin_client.get(url).content.decode()
    assert redis_db.exists(f"session:{recorded}")
    response = admin_client.post(url)
    assert response.status_code == 302
    assert not redis_db.exists(f"session:{recorded}", f"session:{recorded}:audio")


def test_admin_sessions_need_the_permission(client, make_user, recorded):
    staff = make_user("eve", staff=True)
    client.force_login(staff)
    assert client.get("/admin/voice/voicesession/").status_code == 403
    assert client.get(f"/admin/voice/voicesession/{recorded}/audio/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_voice_sessions"))
    assert client.get("/admin/voice/voicesession/").status_code == 200


def test_the_command_lists_shows_and_clears(recorded, redis_db, capsys):
    call_command("voice_sessions", "list")
    assert "1 session(s) in redis" in capsys.readouterr().out
    call_command("voice_sessions", "show", recorded, "--json")
    shown = json.loads(capsys.readouterr().out)
    assert shown["user_name"] == "Alice Smith" and shown["audio_bytes"] == 1028 and shown["ttl"] > 3500
    call_command("voice_sessions", "show", recorded)
    assert "Alice Smith" in capsys.readouterr().out
    with pytest.raises(CommandError, match="malformed"):
        call_command("voice_sessions", "show", "a*")
    with pytest.raises(CommandError, match="No voice session"):
        call_command("voice_sessions", "clear", "nosuchsession")
    call_command("voice_sessions", "clear", recorded, "--json")
    assert json.loads(capsys.readouterr().out) == {"cleared": recorded}
    assert not redis_db.exists(f"session:{recorded}")


def test_debug_endpoints_are_rate_limited_per_staff_user(client, staff, recorded, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "debug_endpoints": (2, 60)}
    client.force_login(staff)
    assert client.get(DEBUG_URL.format(recorded)).status_code == 200
    assert client.get(CLEAR_URL.format(recorded)).status_code == 200
    refused = client.get(DEBUG_URL.format(recorded))
    assert refused.status_code == 429 and 0 < refused.json()["retry_after"] <= 60
    assert refused["Retry-After"] == str(refused.json()["retry_after"])


def test_admin_clear_refuses_a_post_without_csrf(make_user, recorded, redis_db):
    from django.test import Client

    admin = make_user("root", staff=True)
    admin.is_superuser = True
    admin.save()
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    assert client.post(f"/admin/voice/voicesession/{recorded}/clear/").status_code == 403
    assert redis_db.exists(f"session:{recorded}")


def test_the_voice_page_and_pin_page_refuse_other_methods(client, make_user):
    assert client.post("/voice/").status_code == 405
    client.force_login(make_user("carol"))
    assert client.put("/voice/pin/").status_code == 405


def test_the_pin_page_limits_password_checks_like_logins(client, make_user, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login": (3, 300)}
    erin = make_user("erin")
    client.force_login(erin)
    for _ in range(3):
        response = client.post("/voice/pin/", {"current_password": "guess", "pin": "246801", "pin_confirm": "246801"})
        assert response.status_code == 200
    refused = client.post("/voice/pin/", {"current_password": "erin-pw", "pin": "246801", "pin_confirm": "246801"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert not VoiceProfile.objects.filter(user=erin).exists()
    assert client.get("/voice/pin/").status_code == 200  # reading the page is not an attempt


def test_admin_audio_sends_exactly_the_bytes_its_content_length_says(admin_client, recorded):
    sessions.update_session(recorded, {"is_recording": "True"})
    audio = admin_client.get(f"/admin/voice/voicesession/{recorded}/audio/")
    assert sessions.append_audio(recorded, b"arrived after the snapshot").ok
    body = b"".join(audio.streaming_content)
    assert audio["Content-Length"] == "1028" and len(body) == 1028


def test_a_pin_must_be_ascii_digits_without_a_newline():
    from django.core.exceptions import ValidationError

    from voice.models import validate_pin

    for bad in ("4321\n", "\u0664\u0663\u0662\u0661", "\uff11\uff12\uff13\uff14"):
        with pytest.raises(ValidationError):
            validate_pin(bad)
    validate_pin("0123")
