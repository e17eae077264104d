from django.apps import AppConfig
from django.urls import register_converter


class ConvonetSiteConfig(AppConfig):
    name = "convonet_site"
    verbose_name = "Convonet site"

    def ready(self) -> None:
        from .converters import IdConverter

        register_converter(IdConverter, "id")
