"""The authorization matrix (issues 10 and 18): every URL of the URLconf (GET and POST) and every WebSocket message
type of every consumer, for each of seven roles, held to a policy written by hand.

Roles: anonymous; user (logged in, in no team, the addressee of the world's invitation); member, viewer and owner
of the team the URLs point at; staff without any permission; staff with every permission (not superuser).

The HTTP policy says who may do what (`SITE`, `ADMIN`, and the admin's own rule for model pages), from the
permission model, not from what the code answers today: each cell checks that the roles named are served and
every other role is sent to sign in or refused (403, 404, 405), never a 5xx. Requests go as a browser's do:
through every middleware, POSTs with the CSRF token of the client's own cookie; and every POST a role may make
is sent once more without the token, which must be refused (403). WebSocket cells are the reply's type or error
code per role, over the whole ASGI stack (origin check, session cookie, auth middleware). A URL or a message type
without a rule fails `test_every_endpoint_has_a_rule`, so nothing new ships unreviewed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from asgiref.sync import sync_to_async

from analytics import ratelimit

from .authorization import ROLES, Browsers, build_world, observe_ws, url_for, url_patterns, websocket_types

# -- Who may do what: the policy, written from the permission model (README "Teams, todos and notifications",
# "Admin"), not read off the code. A cell passes when the role's answer is `allowed` for the roles named and
# `login` or `refused` for every other (tests/authorization.py `verdict`); a 5xx fails every cell.

EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anonymous"}
STAFF = frozenset({"staff", "staff+perm"})
PERMITTED = frozenset({"staff+perm"})  # staff holding the permission the page declares
TEAM = frozenset({"member", "viewer", "owner"})  # everyone in the team: they read it
WRITERS = frozenset({"member", "owner"})  # members change todos; viewers only read
MANAGERS = frozenset({"owner"})  # owners and admins manage members and invitations (no admin in the world)
OWNER = frozenset({"owner"})  # renames or deletes the team
INVITEE = frozenset({"user"})  # the world's invitation is addressed to "user"
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Rule:
    """The roles allowed; `absent` when the URL names a thing that does not exist in the world (an RQ job, a
    worker), so an allowed role must get exactly 404 — past the permission check — and no role may get more."""

    who: frozenset[str]
    absent: bool = False


def post_only(who: frozenset[str]) -> dict[str, Rule]:
    """A state change: nobody may GET it; `who` may POST it."""
    return {"GET": Rule(NOBODY), "POST": Rule(who)}


def read_only(who: frozenset[str]) -> dict[str, Rule]:
    """A page or JSON face: `who` may GET it; nothing to POST."""
    return {"GET": Rule(who), "POST": Rule(NOBODY)}


def both(who: frozenset[str], absent: bool = False) -> dict[str, Rule]:
    """A page with its form: `who` may GET and POST it."""
    return {"GET": Rule(who, absent), "POST": Rule(who, absent)}


SITE: dict[str, dict[str, Rule]] = {
    "home": read_only(EVERYONE),
    "healthz": read_only(EVERYONE),
    "metrics": both(NOBODY),  # no METRICS_TOKEN in the tests: the page does not exist (tests/test_metrics.py)
    "login": both(EVERYONE),
    "logout": post_only(EVERYONE),
    "voice:page": read_only(EVERYONE),  # anonymous users sign in on the socket with a PIN
    "voice:pin": both(SIGNED_IN),
    # the seed's debug endpoints: staff with the voice-sessions permission; clearing deletes only on POST
    "voice:debug_session": read_only(PERMITTED),
    "voice:clear_session": both(PERMITTED),
    "voice:sessions_json": read_only(PERMITTED),
    "voice:calls_json": read_only(PERMITTED),
    "teams:list": both(SIGNED_IN),
    "teams:create": post_only(SIGNED_IN),
    "teams:detail": {"GET": Rule(TEAM), "POST": Rule(WRITERS)},
    "teams:settings": both(OWNER),
    "teams:delete": post_only(OWNER),
    "teams:leave": post_only(TEAM),
    "teams:todo_edit": both(WRITERS),
    "teams:todo_assign": post_only(WRITERS),
    "teams:todo_done": post_only(WRITERS),
    "teams:todo_delete": post_only(WRITERS),
    "teams:members": {"GET": Rule(TEAM), "POST": Rule(MANAGERS)},
    "teams:member_role": post_only(MANAGERS),
    "teams:member_remove": post_only(MANAGERS),
    "teams:invitation_withdraw": post_only(MANAGERS),
    "teams:invitations": both(SIGNED_IN),
    "teams:invitation_accept": post_only(INVITEE),
    "teams:invitation_decline": post_only(INVITEE),
    "teams:preferences": both(SIGNED_IN),
    "analytics:my_activity": read_only(SIGNED_IN),
    "analytics:my_activity_json": read_only(SIGNED_IN),
    "assistant:history": read_only(SIGNED_IN),
    # a kept recording: its speaker, and staff with the voice-request permission
    "assistant:audio": read_only(frozenset({"member", "staff+perm"})),
}

ADMIN: dict[str, dict[str, Rule]] = {
    # the admin's own pages: any staff account (a staff account without permissions sees an empty index)
    "admin:index": both(STAFF),
    # the site login's limits serve the admin login (analytics.login.admin_login); signed-in staff are sent on
    "admin/login/": both(EVERYONE),
    "admin:login": both(EVERYONE),
    "admin:logout": post_only(STAFF),
    "admin:password_change": both(STAFF),
    "admin:password_change_done": read_only(STAFF),
    "admin:jsi18n": read_only(STAFF),
    # without its query (app, model, field) the autocomplete refuses every request
    "admin:autocomplete": both(NOBODY),
    # no model of ours has a public URL: "view on site" is 404 for staff (infra.admin_pages.view_on_site)
    "admin/r/<path:content_type_id>/<path:object_id>/": both(STAFF, absent=True),
    "admin:view_on_site": both(STAFF, absent=True),
    "admin:app_list": both(PERMITTED),  # an app's index: 404 to staff who may see none of its models
    "admin/(?P<url>.*)$": both(STAFF, absent=True),  # no such admin page
    # custom admin pages and their JSON twins: one permission each (infra.admin_pages.may_open_page)
    "admin:voice_voicesession_detail": both(PERMITTED),
    "admin:voice_voicesession_audio": both(PERMITTED),
    "admin:voice_voicesession_clear": both(PERMITTED),
    "admin:notifications_notification_json": both(PERMITTED),
    "admin:analytics_ratelimitpage_json": both(PERMITTED),
    "admin:analytics_ratelimitpage_reset": post_only(PERMITTED),
    "admin:analytics_activitypage_json": both(PERMITTED),
    "admin:analytics_redispage_json": both(PERMITTED),
    "admin:analytics_redispage_fragment": both(PERMITTED),
    # read-only histories: rollups are written by `manage.py activity_rollup`, voice requests by the assistant
    "admin:analytics_activityrollup_add": both(NOBODY),
    "admin:analytics_activityrollup_change": {"GET": Rule(PERMITTED), "POST": Rule(NOBODY)},  # view, delete
    "admin:assistant_voicerequest_add": both(NOBODY),
    "admin:django_rq_dashboard_add": both(NOBODY),
    # django-rq's dashboard: staff with its permission; its JSON stats with an API token in the URL take no
    # session, and no token is set (the route is keyed by its pattern: both routes share the name)
    "admin:django_rq_home_json": both(PERMITTED),
    r"admin/django_rq/dashboard/^stats.json/(?P<token>[\w]+)?/?$": both(NOBODY),
    "admin:django_rq_metrics": both(PERMITTED),  # basic auth (401) for non-staff
    "admin:django_rq_job_detail": both(PERMITTED, absent=True),
    "admin:django_rq_result_detail": both(PERMITTED, absent=True),
    "admin:django_rq_delete_job": both(PERMITTED, absent=True),
    "admin:django_rq_requeue_job": both(PERMITTED, absent=True),
    "admin:django_rq_enqueue_job": both(PERMITTED, absent=True),
    "admin:django_rq_worker_details": both(PERMITTED, absent=True),
    "admin:django_rq_stop_job": post_only(PERMITTED),
}


def admin_rule(name: str, route: str) -> dict[str, Rule] | None:
    """Every other admin URL: a model's pages need staff with that model's permission (the permission model of
    the Django admin; the world's "staff+perm" holds every permission, "staff" none). The admin's old object
    URLs (`admin/<app>/<model>/<id>/`) redirect staff to the change page, which then asks."""
    if name.startswith("admin:django_rq_") or name.rsplit("_", 1)[-1] in (
        "changelist",
        "add",
        "history",
        "delete",
        "change",
        "password_change",
    ):
        return both(PERMITTED)
    if route.startswith("admin/") and route.endswith("/<path:object_id>/"):
        return both(STAFF)
    return None


def policy(name: str, route: str) -> dict[str, Rule] | None:
    return SITE.get(name) or ADMIN.get(route) or ADMIN.get(name) or admin_rule(name, route)


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
    # a verdict with no tentative recording before it, on a fresh socket: out of order for everyone signed in
    ("ws/voice/", "end_turn"): (
        "not_authenticated",
        "no_tentative_turn",
        "no_tentative_turn",
        "no_tentative_turn",
        "no_tentative_turn",
        "no_tentative_turn",
        "no_tentative_turn",
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


def cell_holds(role: str, rule: Rule, status: int, verdict: str) -> bool:
    if role not in rule.who:
        return verdict in ("login", "refused")
    if rule.absent:
        return status == 404
    return verdict == "allowed"


def test_every_endpoint_has_a_rule(capsys):
    http_rows = [(name, route) for name, _, route in url_patterns()]
    ws_rows = {(route, kind) for route, _, kind in websocket_types()}
    assert [name for name, route in http_rows if policy(name, route) is None] == [], "URLs without a rule"
    stale = (set(SITE) | set(ADMIN)) - {key for row in http_rows for key in row}
    assert sorted(stale) == [], "rules for URLs that no longer exist"
    assert sorted(ws_rows - set(WS)) == [] and sorted(set(WS) - ws_rows) == []
    with capsys.disabled():
        print(f"\nauthorization matrix: {(2 * len(http_rows) + len(WS)) * len(ROLES)} cells", end=" ")


def test_http_policy(world, capsys):
    """Every URL, GET and POST (with the CSRF token), as every role: allowed exactly to the roles its rule names."""
    browsers = Browsers(world)
    wrong = {}
    for name, _, route in url_patterns():
        url = url_for(name, route, world)
        for method, rule in policy(name, route).items():
            for role in ROLES:
                response = browsers.response(role, method, url)
                verdict = browsers.verdict(role, response)
                if not cell_holds(role, rule, response.status_code, verdict):
                    wrong[route, method, role] = (response.status_code, verdict, sorted(rule.who))
    assert wrong == {}, "cells against the policy: (row, method, role) -> (status, verdict, roles allowed)"
    with capsys.disabled():
        print(f"\nauthorization matrix: {2 * len(list(url_patterns())) * len(ROLES)} HTTP cells")


def test_a_post_without_its_csrf_token_is_refused_to_every_role_allowed_to_make_it(world):
    """The same POSTs, from the roles allowed to make them, without the token: 403 from the CSRF check, and
    nothing changed (the view never ran)."""
    browsers = Browsers(world)
    let_through = {}
    for name, _, route in url_patterns():
        rule = policy(name, route)["POST"]
        for role in sorted(rule.who):
            response = browsers.response(role, "POST", url_for(name, route, world), csrf=False)
            if response.status_code != 403:
                let_through[name, role] = response.status_code
    assert let_through == {}, "POSTs served without a CSRF token: (row, role) -> status"


@pytest.mark.django_db(transaction=True)
async def test_websocket_matrix(world, capsys):
    """Every message type of every socket, as every role, through the whole ASGI stack."""
    browsers = Browsers(world)
    cookies = await sync_to_async(lambda: {role: browsers.session_cookie(role) for role in ROLES})()
    observed = {}
    for route, _, kind in websocket_types():
        observed[route, kind] = tuple([await observe_ws(world, cookies[role], role, route, kind) for role in ROLES])
    wrong = {row: (WS.get(row), cells) for row, cells in observed.items() if WS.get(row) != cells}
    assert wrong == {}, "cells that differ: row -> (expected, observed)"
    with capsys.disabled():
        print(f"\nauthorization matrix: {len(observed) * len(ROLES)} WebSocket cells")
