from django.apps import AppConfig


class ConvonetSiteConfig(AppConfig):
    name = "convonet_site"
    verbose_name = "Convonet site"
