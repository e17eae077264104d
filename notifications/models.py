"""Notifications live in Redis (history and pub/sub); no database tables.

`Notification` is an unmanaged model with no table, as django-rq does for its queues: it gives the
admin its "Notifications" entry and the two permissions the admin page checks.
"""

from django.db import models


class Notification(models.Model):
    class Meta:
        managed = False
        default_permissions = ()
        permissions = [
            ("view_notifications", "Can view the notification history"),
            ("publish_notification", "Can publish notifications"),
        ]
        verbose_name = "notification"
        verbose_name_plural = "notifications"

    def __str__(self) -> str:
        return "Notifications"
