from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import get_language

from courrier.campaigns.letters import sample_letter
from courrier.campaigns.models import Campaign


def public_campaigns():
    return Campaign.objects.filter(status__in=[Campaign.Status.LIVE, Campaign.Status.CLOSED])


def campaign_list(request: HttpRequest) -> HttpResponse:
    campaigns = public_campaigns().select_related("organisation")
    return render(request, "campaigns/list.html", {"campaigns": campaigns})


def render_campaign_page(request: HttpRequest, campaign: Campaign, form, status: int = 200) -> HttpResponse:
    to_targets, cc_targets = campaign.recipients()
    letter = campaign.letter_for(get_language())
    context = {
        "campaign": campaign,
        "form": form,
        "letter": letter,
        "letter_text": sample_letter(letter) if letter else "",
        "to_targets": to_targets,
        "cc_targets": cc_targets,
        "to_names": ", ".join(t.name for t in to_targets),
        "cc_names": ", ".join(t.name for t in cc_targets),
    }
    return render(request, "campaigns/detail.html", context, status=status)


def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    from courrier.signatures.forms import SignatureForm

    campaign = get_object_or_404(public_campaigns(), slug=slug)
    form = None
    if campaign.is_open:
        form = SignatureForm(letter_languages=campaign.letter_languages(), default_language=get_language())
    return render_campaign_page(request, campaign, form)
