"""The checklist and the letter checker as the studio shows them: blockers and advice, each with its place.

Only what an organiser can act on is listed: findings about the site's own
settings are its operators' matter (checklist.is_operators_matter), shown to
superusers, and to organisers only as "the site is not ready to send mail".
"""

from dataclasses import dataclass

from django.urls import reverse

from courrier.campaigns.checklist import Finding, is_operators_matter, run_checklist
from courrier.campaigns.models import Campaign

LETTER_FIELDS = {"subject", "body", "letters"}
STORY_FIELDS = {"title", "summary", "article"}
PEOPLE_CODES = {"empty_case_file"}


@dataclass
class Shown:
    finding: Finding
    url: str  # where to fix it


@dataclass
class Review:
    blockers: list[Shown]
    advice: list[Shown]
    site_not_ready: bool  # an operator's finding blocks (told to organisers without its details)

    @property
    def clear(self) -> bool:
        return not self.blockers and not self.site_not_ready


def place_of(campaign: Campaign, finding: Finding) -> str:
    overview = reverse("studio:campaign", args=[campaign.pk])
    if finding.field in LETTER_FIELDS:
        return reverse("studio:letter", args=[campaign.pk, finding.language or campaign.language])
    if finding.field in STORY_FIELDS:
        if finding.language and finding.language != campaign.language:
            return reverse("studio:translation", args=[campaign.pk, finding.language])
        return reverse("studio:story", args=[campaign.pk])
    if finding.code in PEOPLE_CODES:
        return reverse("studio:people", args=[campaign.pk])
    if finding.field == "targets":
        return reverse("studio:recipients", args=[campaign.pk])
    return overview


def review(campaign: Campaign, user) -> Review:
    findings = run_checklist(campaign)
    everything = getattr(user, "is_superuser", False)
    shown = [f for f in findings if everything or not is_operators_matter(f)]
    return Review(
        blockers=[Shown(f, place_of(campaign, f)) for f in shown if f.blocks],
        advice=[Shown(f, place_of(campaign, f)) for f in shown if not f.blocks],
        site_not_ready=not everything and any(f.blocks and is_operators_matter(f) for f in findings),
    )
