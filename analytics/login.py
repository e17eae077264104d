"""The login view, with attempts limited per username (`RATE_LIMITS["login"]`) and per client address
(`RATE_LIMITS["login_ip"]`, higher: many people may share one address behind a NAT).

Both counters are checked so that neither one address trying many usernames nor many addresses trying
one username get past their limit; a successful login clears the username's counter. The admin's login
(`admin_login`, routed over `/admin/login/`) spends and clears the same counters: a password guessed at one
door must not be guessable at the other, and an account refused at one is refused at both.

The username counter is keyed on the name as the login form and the auth backend resolve it (NFKC, as
Django's `UsernameField` normalises, then case-folded): the full-width, mathematical-bold and
Roman-numeral look-alikes of `dave` all log in as `dave`, so they must all spend dave's attempts.
Every other place that checks a password or a PIN by username (the PIN page, the voice `authenticate`
message) resolves names with the same two functions.
"""

from __future__ import annotations

import unicodedata

from django.contrib import admin, messages
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse

from .guards import client_ip, retry_after_seconds, too_many_requests
from .ratelimit import RateLimitResult, hit, ip_identifier, reset

ACTION, IP_ACTION = "login", "login_ip"


def normalize_username(raw: str) -> str:
    """The username the login form hands the auth backend: stripped and NFKC-normalised (`UsernameField`)."""
    return unicodedata.normalize("NFKC", raw.strip())


def account_identifier(raw: str) -> str:
    """The rate-limit identifier of the account a typed username resolves to, whatever its spelling.

    Case-folded after NFKC (and normalised again, as folding can undo it), so that the counter never
    splits where a case-insensitive backend or database collation would match one account.
    """
    folded = unicodedata.normalize("NFKC", normalize_username(raw).casefold())
    return f"user:{folded[:150]}"


def refused_attempt(request: HttpRequest) -> RateLimitResult | None:
    """Count a login attempt against its address and the account it names; the refusal that lasts longest, if any.

    Every password login (the site's and the admin's) goes through here, so both doors share one policy.
    """
    username = request.POST.get("username", "")
    results = [hit(ip_identifier(client_ip(request)), IP_ACTION)]
    if isinstance(username, str) and username.strip():
        results.append(hit(account_identifier(username), ACTION))
    refused = [r for r in results if not r.allowed]
    return max(refused, key=lambda r: r.retry_after) if refused else None


def clear_account(username: str) -> None:
    """Forget an account's failed attempts: its owner just proved who they are."""
    reset(account_identifier(username), ACTION)


class RateLimitedLoginView(LoginView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        refused = refused_attempt(request)
        if refused is None:
            return super().post(request, *args, **kwargs)
        seconds = retry_after_seconds(refused)
        messages.error(request, f"Too many login attempts. Try again in {seconds} seconds.")
        response = self.render_to_response(self.get_context_data(form=self.form_class(request)), status=429)
        response["Retry-After"] = str(seconds)
        return response

    def form_valid(self, form) -> HttpResponse:
        clear_account(form.get_user().get_username())
        return super().form_valid(form)


def admin_login(request: HttpRequest) -> HttpResponse:
    """The Django admin's login behind the site login's counters (a 429 page past them).

    Django's `AdminSite.login` answers a good password with a redirect and a bad one with its form again,
    so a redirected POST is the success that clears the account's counter.
    """
    if request.method == "POST" and (refused := refused_attempt(request)) is not None:
        return too_many_requests(refused, request)
    response = admin.site.login(request)
    if request.method == "POST" and response.status_code == 302 and request.user.is_authenticated:
        clear_account(request.user.get_username())
    return response
