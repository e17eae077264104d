app_name = "notifications"
#: The app has no HTTP pages (the bell is a template, the admin page lives under admin/); this empty
#: module only satisfies the site's include("notifications.urls").
urlpatterns: list = []
