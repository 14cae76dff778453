"""Mounted at /admin/second-factor/ (courrier/urls.py), before the admin's own URLs."""

from django.contrib import admin
from django.urls import path

from courrier.backoffice import second_factor as views

urlpatterns = [
    path("", admin.site.admin_view(views.verify), name="second_factor_verify"),
    path("setup/", admin.site.admin_view(views.setup), name="second_factor_setup"),
]
