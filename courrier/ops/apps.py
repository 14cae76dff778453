from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Commands that run the site as a whole (serve, and later the benchmark)."""

    name = "courrier.ops"
    verbose_name = "Operations"
