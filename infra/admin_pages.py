"""The base of the admin pages over Redis data (django-rq's pattern: an unmanaged model, one permission).

Each such page is one entry in the admin guarded by one custom permission; there is nothing to add,
change or delete through the ModelAdmin machinery, so those answers are fixed here once.

A statistic has three faces (an admin page, a JSON view, a manage.py command); its `Statistic` names the
one permission they all answer to: the page (`RedisPageAdmin.statistic`) and the JSON view
(`Statistic.may_open`) check it for the user; the command (`StatisticCommand`), run by an operator with
no user, refuses to run while no model declares the permission (a renamed permission would leave the page
and the JSON open to nobody while the command still answered).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.contrib.contenttypes.views import shortcut
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def may_open_page(user: Any, permission: str) -> bool:
    """The one check behind an admin page over Redis and its JSON twins (every face of a statistic answers
    to the same permission, so no JSON view shows what the page would refuse)."""
    return bool(user.is_active and user.is_staff and user.has_perm(permission))


def view_on_site(request: HttpRequest, content_type_id: str, object_id: str) -> HttpResponse:
    """The admin's "view on site" redirect (`admin/r/<type>/<id>/`), 404 for a model without a table.

    Django's `shortcut` looks the object up in the model's table; the unmanaged models behind the pages over
    Redis (and django-rq's dashboard) have none, which made its query a 500 for any staff account.
    """
    try:
        model = ContentType.objects.get(pk=content_type_id).model_class()
    except (ContentType.DoesNotExist, ValueError):
        raise Http404("No such content type.") from None
    if model is None or not model._meta.managed:
        raise Http404("Objects of this type have no page on the site.")
    return shortcut(request, content_type_id, object_id)


@dataclass(frozen=True)
class Statistic:
    """One statistic and the one permission ("app_label.codename") that opens each of its faces."""

    name: str
    permission: str

    def may_open(self, user: Any) -> bool:
        return may_open_page(user, self.permission)

    def permission_declared(self) -> bool:
        """True when a model of the permission's app declares it (read from the models: no database)."""
        app_label, codename = self.permission.split(".", 1)
        if app_label not in apps.app_configs:
            return False
        models = apps.get_app_config(app_label).get_models()
        return any(codename == declared for model in models for declared, _ in model._meta.permissions)


class StatisticCommand(BaseCommand):
    """A manage.py face of a statistic: refused while the statistic's permission is not installed."""

    statistic: Statistic

    def execute(self, *args: Any, **options: Any) -> Any:
        if not self.statistic.permission_declared():
            raise CommandError(
                f"The permission {self.statistic.permission!r} of the {self.statistic.name} statistic is declared by "
                "no model, so its admin page and JSON view open to nobody: fix the statistic's permission."
            )
        return super().execute(*args, **options)


class RedisPageAdmin(admin.ModelAdmin):
    """The one base of the pages over Redis data: the statistic whose permission opens them, and how they render."""

    #: The statistic the page shows; its permission opens the page.
    statistic: Statistic

    @property
    def permission(self) -> str:
        return self.statistic.permission

    def has_page_permission(self, request: HttpRequest) -> bool:
        return self.statistic.may_open(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_page_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_page_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        """The page only: with no objects, the admin's add, change, history and delete URLs (which would query a
        table that does not exist: a 500 for staff) are not routed at all, so they are 404 like any unknown page."""
        page = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [url for url in super().get_urls() if getattr(url, "name", None) == page]

    def require(self, request: HttpRequest, permission: str | None = None) -> None:
        """Refuse (403) a user without the page's permission, or without `permission` for an action."""
        if not self.has_page_permission(request) or (permission and not request.user.has_perm(permission)):
            raise PermissionDenied

    def url_name(self, suffix: str) -> str:
        """The admin URL name of one of the page's views (`app_model_suffix`)."""
        return f"{self.opts.app_label}_{self.opts.model_name}_{suffix}"

    def page_context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        """What every page's template gets: the admin's own context, the model's options and a title."""
        return {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **extra}

    def render_page(
        self, request: HttpRequest, template: str, context: dict[str, Any], *, status: int = 200
    ) -> HttpResponse:
        return TemplateResponse(request, template, context, status=status)
