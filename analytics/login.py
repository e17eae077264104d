"""The login view, with attempts limited per username (`RATE_LIMITS["login"]`) and per client address
(`RATE_LIMITS["login_ip"]`, higher: many people may share one address behind a NAT).

Both counters are checked so that neither one address trying many usernames nor many addresses trying
one username get past their limit; a successful login clears the username's counter.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse

from .guards import client_ip, retry_after_seconds
from .ratelimit import hit, ip_identifier, reset

ACTION, IP_ACTION = "login", "login_ip"


def _username_identifier(username: str) -> str:
    return f"user:{username.strip().lower()[:150]}"


class RateLimitedLoginView(LoginView):
    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        username = request.POST.get("username", "")
        results = [hit(ip_identifier(client_ip(request)), IP_ACTION)]
        if isinstance(username, str) and username.strip():
            results.append(hit(_username_identifier(username), ACTION))
        refused = [r for r in results if not r.allowed]
        if not refused:
            return super().post(request, *args, **kwargs)
        seconds = max(retry_after_seconds(r) for r in refused)
        messages.error(request, f"Too many login attempts. Try again in {seconds} seconds.")
        response = self.render_to_response(self.get_context_data(form=self.form_class(request)), status=429)
        response["Retry-After"] = str(seconds)
        return response

    def form_valid(self, form) -> HttpResponse:
        reset(_username_identifier(form.get_user().get_username()), ACTION)
        return super().form_valid(form)
