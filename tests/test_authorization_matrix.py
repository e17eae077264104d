"""The authorization matrix (issue 10): every URL of the URLconf (GET and POST) and every WebSocket message
type of every consumer, for each of seven roles, with the answer each cell must get.

Roles: anonymous; user (logged in, in no team); member, viewer and owner of the team the URLs point at;
staff without any permission; staff with every permission (not superuser). Rows are keyed by URL name
(or route, for unnamed ones) and built from the URLconf and the consumers' `message_types`: an endpoint
or a message type without a row fails `test_every_endpoint_has_a_row`, so nothing new ships unreviewed.
HTTP cells are status codes (POSTs carry no data: the answer to an empty, unauthorised or malformed form);
WebSocket cells are the reply's type or its error code.
"""

from __future__ import annotations

import json
import os

import pytest

from analytics import ratelimit

from .authorization import ROLES, Browsers, build_world, observe_ws, url_for, url_patterns, websocket_types

# (row, method) -> the seven cells, in ROLES order:
#   anonymous user member viewer owner staff staff+perm
HTTP: dict[tuple[str, str], str] = {
    ("home", "GET"): "200 200 200 200 200 200 200",
    ("home", "POST"): "405 405 405 405 405 405 405",
    ("healthz", "GET"): "200 200 200 200 200 200 200",
    ("healthz", "POST"): "405 405 405 405 405 405 405",
    # METRICS_TOKEN is unset in the tests: the page does not exist for anyone (tests/test_metrics.py: the token).
    ("metrics", "GET"): "404 404 404 404 404 404 404",
    ("metrics", "POST"): "405 405 405 405 405 405 405",
    ("login", "GET"): "200 200 200 200 200 200 200",
    ("login", "POST"): "200 200 200 200 200 200 200",
    ("logout", "GET"): "405 405 405 405 405 405 405",
    ("logout", "POST"): "302 302 302 302 302 302 302",
    ("admin:index", "GET"): "302 302 302 302 302 200 200",
    ("admin:index", "POST"): "302 302 302 302 302 200 200",
    # the admin's login is served by analytics.login.admin_login (the site login's limits), routed before admin/
    ("admin/login/", "GET"): "200 200 200 200 200 302 302",
    ("admin/login/", "POST"): "200 200 200 200 200 200 200",
    ("admin:login", "GET"): "200 200 200 200 200 302 302",
    ("admin:login", "POST"): "200 200 200 200 200 200 200",
    ("admin:logout", "GET"): "302 302 302 302 302 405 405",
    ("admin:logout", "POST"): "302 302 302 302 302 302 302",
    ("admin:password_change", "GET"): "302 302 302 302 302 200 200",
    ("admin:password_change", "POST"): "302 302 302 302 302 200 200",
    ("admin:password_change_done", "GET"): "302 302 302 302 302 200 200",
    ("admin:password_change_done", "POST"): "302 302 302 302 302 405 405",
    ("admin:autocomplete", "GET"): "302 302 302 302 302 403 403",
    ("admin:autocomplete", "POST"): "302 302 302 302 302 405 405",
    ("admin:jsi18n", "GET"): "302 302 302 302 302 200 200",
    ("admin:jsi18n", "POST"): "302 302 302 302 302 405 405",
    # served by infra.admin_pages.view_on_site (404 for models without a table), routed before admin/
    ("admin/r/<path:content_type_id>/<path:object_id>/", "GET"): "302 302 302 302 302 404 404",
    ("admin/r/<path:content_type_id>/<path:object_id>/", "POST"): "302 302 302 302 302 404 404",
    ("admin:view_on_site", "GET"): "302 302 302 302 302 404 404",
    ("admin:view_on_site", "POST"): "302 302 302 302 302 404 404",
    ("admin:auth_group_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_group_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_group_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_group_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_group_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_group_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_group_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_group_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_group_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_group_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/auth/group/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/auth/group/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:auth_user_password_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_password_change", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_user_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_user_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_user_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_user_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:auth_user_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:auth_user_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/auth/user/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/auth/user/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:teams_team_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_team_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_team_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_team_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_team_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_team_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_team_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_team_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_team_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_team_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/teams/team/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/teams/team/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:teams_teammembership_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teammembership_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/teams/teammembership/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/teams/teammembership/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:teams_todo_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_todo_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/teams/todo/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/teams/todo/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:teams_userpreferences_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_userpreferences_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/teams/userpreferences/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/teams/userpreferences/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:teams_teaminvitation_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:teams_teaminvitation_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/teams/teaminvitation/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/teams/teaminvitation/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:voice_voiceprofile_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_add", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_add", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voiceprofile_change", "POST"): "302 302 302 302 302 403 200",
    ("admin/voice/voiceprofile/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/voice/voiceprofile/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:voice_voicesession_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_detail", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_detail", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_audio", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_audio", "POST"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_clear", "GET"): "302 302 302 302 302 403 200",
    ("admin:voice_voicesession_clear", "POST"): "302 302 302 302 302 403 302",
    ("admin:notifications_notification_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:notifications_notification_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:notifications_notification_json", "GET"): "302 302 302 302 302 403 200",
    ("admin:notifications_notification_json", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_ratelimitpage_json", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_ratelimitpage_json", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_ratelimitpage_reset", "GET"): "302 302 302 302 302 405 405",
    ("admin:analytics_ratelimitpage_reset", "POST"): "302 302 302 302 302 403 400",
    ("admin:analytics_ratelimitpage_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_ratelimitpage_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_activitypage_json", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_activitypage_json", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_activitypage_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_activitypage_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_json", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_json", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_fragment", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_fragment", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_redispage_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_activityrollup_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:analytics_activityrollup_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:analytics_activityrollup_add", "GET"): "302 302 302 302 302 403 403",
    ("admin:analytics_activityrollup_add", "POST"): "302 302 302 302 302 403 403",
    ("admin:analytics_activityrollup_history", "GET"): "302 302 302 302 302 302 302",
    ("admin:analytics_activityrollup_history", "POST"): "302 302 302 302 302 302 302",
    ("admin:analytics_activityrollup_delete", "GET"): "302 302 302 302 302 403 302",
    ("admin:analytics_activityrollup_delete", "POST"): "302 302 302 302 302 403 302",
    ("admin:analytics_activityrollup_change", "GET"): "302 302 302 302 302 403 302",
    ("admin:analytics_activityrollup_change", "POST"): "302 302 302 302 302 403 403",
    ("admin/analytics/activityrollup/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/analytics/activityrollup/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:app_list", "GET"): "302 302 302 302 302 404 200",
    ("admin:app_list", "POST"): "302 302 302 302 302 404 200",
    ("admin/(?P<url>.*)$", "GET"): "302 302 302 302 302 404 404",
    ("admin/(?P<url>.*)$", "POST"): "302 302 302 302 302 404 404",
    ("voice:page", "GET"): "200 200 200 200 200 200 200",
    ("voice:page", "POST"): "405 405 405 405 405 405 405",
    ("voice:pin", "GET"): "302 200 200 200 200 200 200",
    ("voice:pin", "POST"): "302 200 200 200 200 200 200",
    ("voice:debug_session", "GET"): "401 403 403 403 403 403 200",
    ("voice:debug_session", "POST"): "401 403 403 403 403 403 405",
    ("voice:clear_session", "GET"): "401 403 403 403 403 403 200",
    ("voice:clear_session", "POST"): "401 403 403 403 403 403 200",
    ("voice:sessions_json", "GET"): "401 403 403 403 403 403 200",
    ("voice:sessions_json", "POST"): "401 403 403 403 403 403 405",
    ("voice:calls_json", "GET"): "401 403 403 403 403 403 200",
    ("voice:calls_json", "POST"): "401 403 403 403 403 403 405",
    ("teams:list", "GET"): "302 200 200 200 200 200 200",
    ("teams:list", "POST"): "302 200 200 200 200 200 200",
    ("teams:create", "GET"): "302 405 405 405 405 405 405",
    ("teams:create", "POST"): "302 400 400 400 400 400 400",
    ("teams:detail", "GET"): "302 404 200 200 200 404 404",
    ("teams:detail", "POST"): "302 404 400 403 400 404 404",
    ("teams:settings", "GET"): "302 404 403 403 200 404 404",
    ("teams:settings", "POST"): "302 404 403 403 200 404 404",
    ("teams:delete", "GET"): "302 405 405 405 405 405 405",
    ("teams:delete", "POST"): "302 404 403 403 302 404 404",
    ("teams:leave", "GET"): "302 405 405 405 405 405 405",
    ("teams:leave", "POST"): "302 404 302 302 302 404 404",
    ("teams:todo_edit", "GET"): "302 404 200 403 200 404 404",
    ("teams:todo_edit", "POST"): "302 404 200 403 200 404 404",
    ("teams:todo_assign", "GET"): "302 405 405 405 405 405 405",
    ("teams:todo_assign", "POST"): "302 404 302 403 302 404 404",
    ("teams:todo_done", "GET"): "302 405 405 405 405 405 405",
    ("teams:todo_done", "POST"): "302 404 302 403 302 404 404",
    ("teams:todo_delete", "GET"): "302 405 405 405 405 405 405",
    ("teams:todo_delete", "POST"): "302 404 302 403 302 404 404",
    ("teams:members", "GET"): "302 404 200 200 200 404 404",
    ("teams:members", "POST"): "302 404 403 403 400 404 404",
    ("teams:member_role", "GET"): "302 405 405 405 405 405 405",
    ("teams:member_role", "POST"): "302 404 403 403 302 404 404",
    ("teams:member_remove", "GET"): "302 405 405 405 405 405 405",
    ("teams:member_remove", "POST"): "302 404 403 403 302 404 404",
    ("teams:invitation_withdraw", "GET"): "302 405 405 405 405 405 405",
    ("teams:invitation_withdraw", "POST"): "302 404 403 403 302 404 404",
    ("teams:invitations", "GET"): "302 200 200 200 200 200 200",
    ("teams:invitations", "POST"): "302 200 200 200 200 200 200",
    ("teams:invitation_accept", "GET"): "302 405 405 405 405 405 405",
    ("teams:invitation_accept", "POST"): "302 302 404 404 404 404 404",
    ("teams:invitation_decline", "GET"): "302 405 405 405 405 405 405",
    ("teams:invitation_decline", "POST"): "302 302 404 404 404 404 404",
    ("teams:preferences", "GET"): "302 200 200 200 200 200 200",
    ("teams:preferences", "POST"): "302 200 200 200 200 200 200",
    ("analytics:my_activity", "GET"): "302 200 200 200 200 200 200",
    ("analytics:my_activity", "POST"): "302 405 405 405 405 405 405",
    ("analytics:my_activity_json", "GET"): "302 200 200 200 200 200 200",
    ("analytics:my_activity_json", "POST"): "302 405 405 405 405 405 405",
    # the assistant: history for its owner; the admin's history and django-rq's dashboard need their permissions
    ("admin:assistant_voicerequest_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_add", "GET"): "302 302 302 302 302 403 403",
    ("admin:assistant_voicerequest_add", "POST"): "302 302 302 302 302 403 403",
    ("admin:assistant_voicerequest_history", "GET"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_history", "POST"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_delete", "GET"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_delete", "POST"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_change", "GET"): "302 302 302 302 302 403 200",
    ("admin:assistant_voicerequest_change", "POST"): "302 302 302 302 302 403 302",
    ("admin/assistant/voicerequest/<path:object_id>/", "GET"): "302 302 302 302 302 302 302",
    ("admin/assistant/voicerequest/<path:object_id>/", "POST"): "302 302 302 302 302 302 302",
    ("admin:django_rq_home_json", "GET"): "302 302 302 302 302 404 404",
    ("admin:django_rq_home_json", "POST"): "302 302 302 302 302 404 404",
    ("admin:django_rq_home", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_home", "POST"): "302 302 302 302 302 403 200",
    # django-rq's own Prometheus page, enabled because prometheus-client is installed (for /metrics): basic auth
    # (401) for non-staff, staff with its permission only.
    ("admin:django_rq_metrics", "GET"): "401 401 401 401 401 403 200",
    ("admin:django_rq_metrics", "POST"): "401 401 401 401 401 403 200",
    ("admin:django_rq_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_queue_details", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_queue_details", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_finished_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_finished_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_failed_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_failed_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_delete_failed_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_delete_failed_jobs", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_scheduled_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_scheduled_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_started_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_started_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_deferred_jobs", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_deferred_jobs", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_clear", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_clear", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_requeue_all", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_requeue_all", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_job_detail", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_job_detail", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_result_detail", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_result_detail", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_delete_job", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_delete_job", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_requeue_job", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_requeue_job", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_enqueue_job", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_enqueue_job", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_stop_job", "GET"): "302 302 302 302 302 403 405",
    ("admin:django_rq_stop_job", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_confirm_action", "GET"): "302 302 302 302 302 403 302",
    ("admin:django_rq_confirm_action", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_actions", "GET"): "302 302 302 302 302 403 302",
    ("admin:django_rq_actions", "POST"): "302 302 302 302 302 403 302",
    ("admin:django_rq_workers", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_workers", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_worker_details", "GET"): "302 302 302 302 302 403 404",
    ("admin:django_rq_worker_details", "POST"): "302 302 302 302 302 403 404",
    ("admin:django_rq_dashboard_changelist", "GET"): "302 302 302 302 302 403 200",
    ("admin:django_rq_dashboard_changelist", "POST"): "302 302 302 302 302 403 200",
    ("admin:django_rq_dashboard_add", "GET"): "302 302 302 302 302 403 403",
    ("admin:django_rq_dashboard_add", "POST"): "302 302 302 302 302 403 403",
    ("assistant:history", "GET"): "302 200 200 200 200 200 200",
    ("assistant:history", "POST"): "302 405 405 405 405 405 405",
    ("assistant:audio", "GET"): "302 404 200 404 404 404 200",
    ("assistant:audio", "POST"): "302 405 405 405 405 405 405",
}

# (route, message type) -> the seven cells, in ROLES order: the reply's type or its error code.
WS: dict[tuple[str, str], tuple[str, ...]] = {
    ("ws/voice/", "accept"): (
        "not_authenticated",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
    ),
    ("ws/voice/", "authenticate"): (
        "auth_failed",
        "already_authenticated",
        "already_authenticated",
        "already_authenticated",
        "already_authenticated",
        "already_authenticated",
        "already_authenticated",
    ),
    ("ws/voice/", "call"): (
        "not_authenticated",
        "not_teammates",
        "callee_offline",
        "callee_offline",
        "callee_offline",
        "not_teammates",
        "not_teammates",
    ),
    ("ws/voice/", "hangup"): (
        "not_authenticated",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
    ),
    ("ws/voice/", "hands_free"): (
        "not_authenticated",
        "hands_free",
        "hands_free",
        "hands_free",
        "hands_free",
        "hands_free",
        "hands_free",
    ),
    ("ws/voice/", "ping"): ("pong", "pong", "pong", "pong", "pong", "pong", "pong"),
    ("ws/voice/", "presence"): (
        "not_authenticated",
        "presence",
        "presence",
        "presence",
        "presence",
        "presence",
        "presence",
    ),
    ("ws/voice/", "reject"): (
        "not_authenticated",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
    ),
    # no assistant worker runs in this test: a typed command is answered at once that none would read it
    ("ws/voice/", "say"): (
        "not_authenticated",
        "assistant_error",
        "assistant_error",
        "assistant_error",
        "assistant_error",
        "assistant_error",
        "assistant_error",
    ),
    ("ws/voice/", "signal"): (
        "not_authenticated",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
        "unknown_call",
    ),
    ("ws/voice/", "start_recording"): (
        "not_authenticated",
        "recording_started",
        "recording_started",
        "recording_started",
        "recording_started",
        "recording_started",
        "recording_started",
    ),
    ("ws/voice/", "stop_recording"): (
        "not_recording",
        "not_recording",
        "not_recording",
        "not_recording",
        "not_recording",
        "not_recording",
        "not_recording",
    ),
    ("ws/notifications/", "ping"): ("not_authenticated", "pong", "pong", "pong", "pong", "pong", "pong"),
}


@pytest.fixture
def world(make_user, settings):
    settings.RATE_LIMITS = {action: (100_000, 60) for action in settings.RATE_LIMITS}
    ratelimit.local_limiter.clear()
    return build_world(make_user)


def observed_http(world) -> dict[tuple[str, str], str]:
    browsers = Browsers(world)
    cells = {}
    for name, _, route in url_patterns():
        url = url_for(name, route, world)
        for method in ("GET", "POST"):
            cells[name, method] = " ".join(str(browsers.status(role, method, url)) for role in ROLES)
    return cells


async def observed_ws(world) -> dict[tuple[str, str], str]:
    cells = {}
    for route, consumer, kind in websocket_types():
        cells[route, kind] = tuple([await observe_ws(world, role, route, consumer, kind) for role in ROLES])
    return cells


def test_every_endpoint_has_a_row(capsys):
    http_rows = {(name, method) for name, _, _ in url_patterns() for method in ("GET", "POST")}
    ws_rows = {(route, kind) for route, _, kind in websocket_types()}
    assert sorted(http_rows - set(HTTP)) == [], "endpoints without a row in the matrix"
    assert sorted(set(HTTP) - http_rows) == [], "rows for endpoints that no longer exist"
    assert sorted(ws_rows - set(WS)) == [] and sorted(set(WS) - ws_rows) == []
    with capsys.disabled():
        print(f"\nauthorization matrix: {(len(HTTP) + len(WS)) * len(ROLES)} cells", end=" ")


def test_http_matrix(world, capsys):
    observed = observed_http(world)
    if os.environ.get("MATRIX_DUMP"):
        with open(os.environ["MATRIX_DUMP"] + ".http.json", "w") as out:
            json.dump({f"{n}|{m}": v for (n, m), v in observed.items()}, out, indent=0)
    wrong = {row: (HTTP.get(row), cells) for row, cells in observed.items() if HTTP.get(row) != cells}
    assert wrong == {}, "cells that differ: row -> (expected, observed)"
    with capsys.disabled():
        print(f"\nauthorization matrix: {len(observed) * len(ROLES)} HTTP cells ({len(observed)} rows x 7 roles)")


@pytest.mark.django_db(transaction=True)
async def test_websocket_matrix(world, capsys):
    observed = await observed_ws(world)
    if os.environ.get("MATRIX_DUMP"):
        with open(os.environ["MATRIX_DUMP"] + ".ws.json", "w") as out:
            json.dump({f"{n}|{m}": " ".join(v) for (n, m), v in observed.items()}, out, indent=0)
    wrong = {row: (WS.get(row), cells) for row, cells in observed.items() if WS.get(row) != cells}
    assert wrong == {}, "cells that differ: row -> (expected, observed)"
    with capsys.disabled():
        print(f"\nauthorization matrix: {len(observed) * len(ROLES)} WebSocket cells")
