"""The test mailbox: what the campaigns in test mode "sent", for their managers (backoffice/sandbox.py decides
who reads which message: these carry supporters' names and addresses)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from courrier.backoffice.sandbox import sandbox_message, sandbox_page
from courrier.studio.access import studio_page


@studio_page
def mailbox(request: HttpRequest) -> HttpResponse:
    return render(request, "studio/mailbox.html", sandbox_page(request.user, request.GET.get("page")))


@studio_page
def message(request: HttpRequest, key: str) -> HttpResponse:
    return render(request, "studio/mailbox_message.html", sandbox_message(request.user, key))
