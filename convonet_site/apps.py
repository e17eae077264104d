from django.apps import AppConfig
from django.urls import register_converter


class ConvonetSiteConfig(AppConfig):
    name = "convonet_site"
    verbose_name = "Convonet site"

    def ready(self) -> None:
        from . import signout  # noqa: F401  (logout, password change and deactivation close open sockets)
        from .converters import IdConverter, IndexConverter

        register_converter(IdConverter, "id")
        register_converter(IndexConverter, "index")
