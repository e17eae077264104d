"""Activity rollups (kept in the database, past Redis's 24 h), and the admin's pages over Redis data.

`RateLimitPage`, `ActivityPage` and `RedisPage` are unmanaged and have no table: as django-rq does,
each exists only to give the admin an entry and one permission that guards its page.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ActivityRollup(models.Model):
    """Events per hour, user and action, filled from Redis by `manage.py rollup_activity`."""

    hour = models.DateTimeField(help_text="Start of the hour (UTC).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="activity_rollups")
    action = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    total_duration = models.FloatField(default=0.0, help_text="Sum of the events' `duration` metadata, seconds.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "user", "action"], name="one_rollup_per_hour_user_action")
        ]
        indexes = [models.Index(fields=["user", "hour"]), models.Index(fields=["action", "hour"])]
        ordering = ["-hour", "user", "action"]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.user_id} {self.action} x{self.count}"


class AdminPage(models.Model):
    """No rows, ever: only an admin entry and its permissions."""

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class RateLimitPage(AdminPage):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_rate_limits", "Can see rate limits"), ("reset_rate_limits", "Can reset rate limits")]
        verbose_name = "rate limit"
        verbose_name_plural = "Rate limits"


class ActivityPage(AdminPage):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_activity", "Can see users' activity")]
        verbose_name = "activity"
        verbose_name_plural = "Activity"


class RedisPage(AdminPage):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [("view_redis", "Can see the Redis page")]
        verbose_name = "Redis"
        verbose_name_plural = "Redis"
