"""The targets' answers to the letters, for the campaign's managers (delivery/answers.py reads and records
them): per target, how many answered and when first; each answer's text; an excerpt to publish on the
campaign page. Answers from an address the letters were not sent to are listed apart, held."""

import re

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from courrier.delivery import answers as target_answers
from courrier.delivery.models import Answer
from courrier.studio.access import MANAGER, campaign_for, studio_page
from courrier.studio.building import steps

ANSWERS_PAGE = 20


@studio_page
def answers(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    received = (
        Answer.objects.filter(campaign=campaign).select_related("target", "signature").order_by("-received_at", "-pk")
    )
    page = Paginator(received.filter(target__isnull=False), ANSWERS_PAGE).get_page(request.GET.get("page"))
    for answer in page.object_list:
        # Offered to publish: the answer's own words, without the supporter's letter, name or address.
        answer.suggested = target_answers.suggested_excerpt(answer)
    context = {
        "campaign": campaign,
        "nav": steps(request, campaign, "answers"),
        "per_target": target_answers.answers_per_target(campaign),
        "page": page,
        "held": list(received.filter(target__isnull=True)[:ANSWERS_PAGE]),
        "published_max": target_answers.PUBLISHED_MAX,
    }
    return render(request, "studio/answers.html", context)


@require_POST
@studio_page
def publish(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = campaign_for(request, campaign_id, MANAGER)
    chosen = request.POST.get("answer", "")
    answer = (
        Answer.objects.from_targets().filter(campaign=campaign, pk=chosen).select_related("target", "campaign").first()
        if re.fullmatch(r"[0-9]{1,18}", chosen)
        else None
    )
    if answer is None:
        raise Http404
    text = request.POST.get("text", "")
    target_answers.publish(answer, text, request.user)
    if answer.published_at:
        messages.success(request, _("The answer is published on the campaign page."))
    else:
        messages.success(request, _("The answer is no longer on the campaign page."))
    return redirect("studio:answers", campaign_id=campaign.pk)
