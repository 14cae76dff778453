"""Who counts, whose letter goes, who gets news, what may be exported: one rule each, and every figure agrees."""

import pytest
from django.utils import timezone

from courrier.campaigns.models import LISTED_ORGANISATIONS, Campaign
from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.news.sending import subscribers
from courrier.signatures import exports, tallies
from courrier.signatures.models import Signature
from courrier.signatures.tokens import my_data_url
from tests import factories

Moderation = Signature.Moderation


@pytest.fixture
def supporters(db):
    """One campaign, and one supporter in each situation the rules tell apart."""
    campaign = factories.campaign(cc="allies@target.example")
    made = {
        "plain": factories.signature(
            campaign, "plain@example.org", organisation="Union A", consent_list_organisation=True
        ),
        "news": factories.signature(campaign, "news@example.org", consent_news=True),
        "held": factories.signature(
            campaign,
            "held@example.org",
            moderation=Moderation.HELD,
            consent_news=True,
            organisation="Union H",
            consent_list_organisation=True,
        ),
        "approved": factories.signature(campaign, "approved@example.org", moderation=Moderation.APPROVED),
        "rejected": factories.signature(
            campaign, "rejected@example.org", moderation=Moderation.REJECTED, consent_news=True
        ),
        "burst": factories.signature(campaign, "burst@example.org", moderation=Moderation.BURST, consent_news=True),
        "repeat": factories.signature(campaign, "plain@example.org", is_duplicate=True),
        "unconfirmed": factories.signature(campaign, "late@example.org", confirmed=False, consent_news=True),
        "erased": factories.signature(campaign, "erased@example.org", anonymised_at=timezone.now()),
        "not_sent": factories.signature(campaign, "keep@example.org", consent_send=False, consent_news=True),
        "unsubscribed": factories.signature(
            campaign, "stop@example.org", consent_news=True, news_unsubscribed_at=timezone.now()
        ),
    }
    return campaign, made


def names(queryset, made) -> set[str]:
    found = set(queryset.values_list("pk", flat=True))
    return {name for name, signature in made.items() if signature.pk in found}


def test_each_rule_picks_exactly_the_supporters_it_names(supporters):
    campaign, made = supporters
    mine = Signature.objects.filter(campaign=campaign)

    goes = {"plain", "news", "approved", "erased", "unsubscribed"}
    assert names(mine.deliverable(), made) == names(mine.counted(), made) == goes
    assert names(mine.exportable(), made) == goes - {"erased"}  # their data is gone; they still count
    # A held letter does not stop the news; nor does keeping one's letter from the targets.
    assert names(mine.news_recipients(), made) == {"news", "held", "not_sent"}
    assert names(mine.letters_due(), made) == goes - {"erased"}  # nothing left to write a letter from
    assert names(mine.awaiting_letters(), made) == goes | {"held", "rejected", "burst", "not_sent"}
    assert names(mine.listed_organisations(), made) == {"plain"}  # not "Union H" while held
    assert names(mine.openable(), made) == set(made) - {"repeat", "erased"}


def test_the_counter_the_export_and_the_letters_written_agree(supporters):
    campaign, made = supporters
    tallies.refresh_tallies([campaign.pk])
    campaign.refresh_from_db()
    _csv, exported = exports.signatures_csv(campaign)
    enqueue.queue_letters()
    written = OutboxMessage.objects.filter(campaign=campaign, kind=OutboxMessage.Kind.LETTER)

    assert campaign.tally_letters == 5
    assert exported == campaign.tally_letters - 1  # the erased supporter: counted, never exported
    assert set(written.values_list("signature_id", flat=True)) == {
        made[name].pk for name in ("plain", "news", "approved", "unsubscribed")
    }
    assert campaign.tally_organisations == ["Union A"]


def test_news_go_to_the_news_recipients_whose_address_still_takes_mail(supporters):
    campaign, made = supporters
    assert names(subscribers(campaign.pk), made) == {"news", "held", "not_sent"}


def test_approving_a_held_letter_counts_it_at_the_next_recount(supporters):
    campaign, made = supporters
    Signature.objects.filter(pk=made["held"].pk).update(moderation=Moderation.APPROVED)
    tallies.recount_public_campaigns()
    campaign.refresh_from_db()
    assert campaign.tally_letters == 6
    assert campaign.tally_organisations == ["Union A", "Union H"]


def test_only_public_campaigns_are_recounted_by_the_periodic_job(supporters):
    campaign, _made = supporters
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.ARCHIVED, tally_letters=99)
    tallies.recount_public_campaigns()
    assert Campaign.objects.get(pk=campaign.pk).tally_letters == 99
    assert list(Campaign.objects.public()) == []
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.CLOSED)
    assert list(Campaign.objects.public()) == [campaign]
    tallies.recount_public_campaigns()
    assert Campaign.objects.get(pk=campaign.pk).tally_letters == 5


def test_the_supporters_data_page_says_their_organisation_is_listed_exactly_when_the_campaign_page_lists_it(
    supporters, client
):
    campaign, made = supporters
    tallies.refresh_tallies([campaign.pk])
    for name, listed in (("plain", True), ("held", False)):
        page = client.get(my_data_url(made[name], "en")).content.decode()
        assert ("among the organisations that signed" in page) is listed, name
    assert Campaign.objects.get(pk=campaign.pk).tally_organisations == ["Union A"]


def test_the_page_lists_the_first_organisations_only_and_says_there_are_more(own_campaign, client):
    organisations = LISTED_ORGANISATIONS + 30
    factories.confirmed_signatures(own_campaign, 2 * organisations, consent_list_organisation=True, organisation="x")
    for number, signature in enumerate(Signature.objects.order_by("created_at", "pk")):
        # Each organisation signs twice, the second time in other letters.
        name = f"Union {number // 2:03d}"
        signature.organisation = name.upper() if number % 2 == 0 else name
        signature.save(update_fields=["organisation"])
    tallies.refresh_tallies([own_campaign.pk])
    own_campaign.refresh_from_db()

    assert len(own_campaign.organisations_shown()) == LISTED_ORGANISATIONS
    assert own_campaign.more_organisations()
    page = client.get(factories.OWN_PAGE).content.decode()
    assert page.count("<li>UNION ") == LISTED_ORGANISATIONS  # each once, as first written, in the order of signing
    assert "<li>UNION 000</li>" in page and f"<li>UNION {LISTED_ORGANISATIONS:03d}</li>" not in page
    assert "Et bien d’autres organisations." in page


def test_finding_the_organisations_reads_a_bounded_number_of_signatures(own_campaign, monkeypatch):
    monkeypatch.setattr(tallies, "SCANNED_FOR_ORGANISATIONS", 50)
    factories.confirmed_signatures(own_campaign, 60, consent_list_organisation=True, organisation="Same union")
    last = Signature.objects.order_by("created_at", "pk").last()
    Signature.objects.filter(pk=last.pk).update(organisation="Late union")
    assert tallies.first_organisations(own_campaign.pk) == ["Same union"]  # the 60th is past the 50 read
    monkeypatch.setattr(tallies, "SCANNED_FOR_ORGANISATIONS", 60)
    assert tallies.first_organisations(own_campaign.pk) == ["Same union", "Late union"]
