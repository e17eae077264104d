"""The analytics statistics and the one permission each face of each answers to (`infra.admin_pages.Statistic`):
the admin page, its `json/` view and the manage.py command."""

from infra.admin_pages import Statistic

#: The "Rate limits" page and its JSON, `manage.py rate_limits`.
RATE_LIMITS = Statistic("rate limits", "analytics.view_rate_limits")
#: The "Activity" page and its JSON, `manage.py user_activity`.
ACTIVITY = Statistic("activity", "analytics.view_activity")
#: The "Redis" page, its JSON and fragment, `manage.py redis_stats`.
REDIS = Statistic("Redis", "analytics.view_redis")
