"""One-click unsubscribe (RFC 8058), for the supporters who receive a campaign's news.

Mail providers (Gmail, Yahoo…) POST `List-Unsubscribe=One-Click` to the
address of the List-Unsubscribe header, without a cookie or CSRF token: the
signed token in the URL is the proof, and the answer must be a 200, not a
redirect. A person opening the link in the e-mail gets a page with a button,
since a GET must change nothing: mail scanners open every link.
"""

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from courrier.news.subscriptions import stop_news
from courrier.news.tokens import read_unsubscribe_token
from courrier.signatures.models import Signature


@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        signature_id = read_unsubscribe_token(token)
    except signing.BadSignature:
        return render(request, "news/bad_link.html", status=400)
    signature = Signature.objects.select_related("campaign").filter(pk=signature_id, anonymised_at=None).first()
    if signature is None:
        # Deleted or erased: answered like any link that does not work, so it tells nothing.
        return render(request, "news/bad_link.html", status=400)
    if request.method == "POST":
        # Whatever the body: a POST is a deliberate act, and the token is the proof. Idempotent:
        # the first date is kept.
        stop_news(signature.pk)
        return render(request, "news/unsubscribed.html", {"campaign": signature.campaign})
    if signature.news_unsubscribed_at is not None or not signature.consent_news:
        return render(request, "news/unsubscribed.html", {"campaign": signature.campaign})
    return render(request, "news/unsubscribe.html", {"campaign": signature.campaign})
