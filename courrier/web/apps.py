from django.apps import AppConfig


class WebConfig(AppConfig):
    """The public pages: the campaign, signing and its embed, my data, the own-mailbox page, sharing, news."""

    name = "courrier.web"
    verbose_name = "Public pages"
