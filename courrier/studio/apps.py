from django.apps import AppConfig


class StudioConfig(AppConfig):
    name = "courrier.studio"
    verbose_name = "Studio"
