"""The notifications statistic and the one permission each of its faces answers to (`infra.admin_pages.Statistic`)."""

from infra.admin_pages import Statistic

#: The history per audience: the admin's Notifications page, its `json/` view, `manage.py notification_history`.
NOTIFICATIONS_HISTORY = Statistic("notifications history", "notifications.view_notifications")
