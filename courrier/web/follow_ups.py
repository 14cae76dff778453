"""The page a follow-up's link opens: the letter as it goes in the supporter's name, and one button.

A GET changes nothing (mail scanners open every link) and shows the letter with their name, so it is
private (no-store). The POST sends it once (signatures/follow_ups.py); the link is the proof, and the
Origin check keeps other sites from posting it (http/public_forms.py).
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from courrier.delivery.messages import recipients_phrase
from courrier.http.public_forms import public_form
from courrier.news.follow_ups import letter_as_sent
from courrier.signatures.follow_ups import State, open_link, send_follow_up


@never_cache
@public_form
@require_http_methods(["GET", "POST"])
def follow_up(request: HttpRequest, token: str) -> HttpResponse:
    link = send_follow_up(token) if request.method == "POST" else open_link(token)
    if link.state == State.BAD_LINK:
        return render(request, "signatures/follow_up_bad_link.html", status=400)
    signature, follow_up = link.signature, link.follow_up
    context = {
        "campaign": signature.campaign,
        "follow_up": follow_up,
        "state": link.state.value,
        "recipients": recipients_phrase(signature.campaign, signature.language, signature),
        "full_name": signature.full_name,
    }
    letter = follow_up.letter_for(signature.letter_language)
    if letter is not None:  # (a follow-up without a letter is closed: open_link says so)
        subject, body = letter_as_sent(follow_up, signature)
        context.update(letter_subject=subject, letter_body=body, letter_language=letter.language)
    return render(request, "signatures/follow_up.html", context, status=409 if link.state == State.CLOSED else 200)
