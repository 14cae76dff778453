"""Django's admin is the site's operators' (superusers): organisers run their campaigns in the studio.

An organiser (a staff user who is not a superuser) who opens an admin address is sent to the studio's home, in
their language, rather than shown a login form that would refuse them; the admin's login form itself refuses them
with the studio's address (courrier/backoffice/login.py).
"""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from courrier.accounts.roles import is_back_office_user


def is_operator(user) -> bool:
    return is_back_office_user(user) and user.is_superuser


class OperatorsAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        if is_back_office_user(request.user) and not is_operator(request.user):
            return redirect("studio:home")
        return super().login(request, extra_context)
