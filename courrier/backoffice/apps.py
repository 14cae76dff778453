from django.apps import AppConfig


class BackOfficeConfig(AppConfig):
    """The organisers' and operators' back office: Django's admin over the domain, its views and checks."""

    name = "courrier.backoffice"
    verbose_name = "Back office"
