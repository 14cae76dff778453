from django import template
from django.utils.translation import get_language

from courrier.campaigns.models import Campaign, CampaignText
from courrier.web.sharing import Share, campaign_share

register = template.Library()


@register.simple_tag
def share_for(campaign: Campaign) -> Share:
    """{% share_for campaign as share %}: the campaign's address, card and share links in the current language."""
    return campaign_share(campaign)


@register.simple_tag
def campaign_text(campaign: Campaign) -> CampaignText:
    """{% campaign_text campaign as text %}: the campaign's title and summary in the page's language, if it has them."""
    return campaign.text_for(get_language())
