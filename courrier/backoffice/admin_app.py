from django.contrib.admin.apps import AdminConfig


class OperatorsAdminConfig(AdminConfig):
    """django.contrib.admin with its site for superusers only (courrier/backoffice/site.py).

    Apart from site.py because an app's configuration is imported before any model can be.
    """

    default_site = "courrier.backoffice.site.OperatorsAdminSite"
