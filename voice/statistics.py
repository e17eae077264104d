"""The voice app's statistics and the one permission each face of each answers to (`infra.admin_pages.Statistic`):
the admin's Voice sessions page, the JSON endpoints under `/convonet_todo/webrtc/` and the commands."""

from infra.admin_pages import Statistic

#: Live voice sessions: the Voice sessions page, `/convonet_todo/webrtc/sessions` (and the debug and clear
#: endpoints), `manage.py voice_sessions`.
VOICE_SESSIONS = Statistic("voice sessions", "voice.view_voice_sessions")
#: Calls ringing or active: shown on the Voice sessions page, `/convonet_todo/webrtc/calls`, `manage.py active_calls`.
CALLS = Statistic("calls", "voice.view_voice_sessions")
