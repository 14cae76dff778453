"""Every ModelAdmin, one module per domain app; Django's autodiscovery imports this package."""

from courrier.backoffice.admin import accounts, campaigns, delivery, news, signatures  # noqa: F401
