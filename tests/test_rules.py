"""Who counts, whose letter goes, who gets news, what may be exported: one rule each, and every figure agrees."""

from datetime import timedelta

import pytest
from django.utils import timezone

from courrier.campaigns.models import LISTED_ORGANISATIONS, Campaign
from courrier.delivery import enqueue
from courrier.delivery.models import OutboxMessage
from courrier.news.sending import subscribers
from courrier.signatures import exports, moderation, tallies
from courrier.signatures.figures import count_figures
from courrier.signatures.models import Signature
from courrier.signatures.moderation import awaiting_decision
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


def signed_days_ago(campaign, count: int, days: int, prefix: str, **fields) -> list[Signature]:
    made = factories.confirmed_signatures(campaign, count, prefix=prefix, **fields)
    Signature.objects.filter(pk__in=[s.pk for s in made]).update(created_at=timezone.now() - timedelta(days=days))
    return made


def tally(campaign_id: int) -> int:
    return Campaign.objects.get(pk=campaign_id).tally_letters


def test_the_counter_counts_old_signatures_once_then_only_the_last_days_and_all_of_them_every_hour(own_campaign):
    old = signed_days_ago(own_campaign, 3, 30, "old")
    signed_days_ago(own_campaign, 2, 1, "new")
    now = timezone.now()
    tallies.refresh_tallies([own_campaign.pk], now)
    assert tally(own_campaign.pk) == 5
    assert Campaign.objects.get(pk=own_campaign.pk).tally_settled == 3

    # Changed behind the domain's back: not seen until the hourly recount, which shows the counter is kept.
    Signature.objects.filter(pk=old[0].pk).update(consent_send=False)
    signed_days_ago(own_campaign, 1, 0, "today")
    tallies.refresh_tallies([own_campaign.pk], now + timedelta(minutes=1))
    assert tally(own_campaign.pk) == 6, "the old signatures' count kept, the last days' counted"
    tallies.refresh_tallies([own_campaign.pk], now + tallies.FULL_RECOUNT)
    assert tally(own_campaign.pk) == 5, "counted in full every hour"


def test_signatures_settle_into_the_kept_count_as_they_age(own_campaign):
    signed_days_ago(own_campaign, 2, 1, "new")
    now = timezone.now()
    tallies.refresh_tallies([own_campaign.pk], now)
    assert Campaign.objects.get(pk=own_campaign.pk).tally_settled == 0
    later = now + tallies.settled_after()
    tallies.refresh_tallies([own_campaign.pk], later)
    campaign = Campaign.objects.get(pk=own_campaign.pk)
    assert (campaign.tally_letters, campaign.tally_settled) == (2, 2)


def test_approving_an_old_held_letter_counts_it_at_the_next_refresh(own_campaign):
    signed_days_ago(own_campaign, 2, 30, "old")
    [held] = signed_days_ago(own_campaign, 1, 30, "held", moderation=Moderation.HELD)
    tallies.refresh_tallies([own_campaign.pk])
    assert tally(own_campaign.pk) == 2

    moderation.approve(None, Signature.objects.filter(pk=held.pk))
    tallies.refresh_tallies([own_campaign.pk], timezone.now() + timedelta(minutes=1))
    assert tally(own_campaign.pk) == 3


def test_deleting_an_old_signature_in_the_back_office_takes_it_off_the_counter(own_campaign):
    old = signed_days_ago(own_campaign, 3, 30, "old")
    tallies.refresh_tallies([own_campaign.pk])
    operator = factories.operator()  # the admin's; an organiser erases a supporter's data through its owner
    response = operator.post(f"/admin/signatures/signature/{old[0].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    tallies.refresh_tallies([own_campaign.pk], timezone.now() + timedelta(minutes=1))
    assert tally(own_campaign.pk) == 2


def test_a_change_to_old_signatures_while_the_counter_is_counted_is_not_lost(own_campaign, monkeypatch):
    signed_days_ago(own_campaign, 3, 30, "old")
    tallies.refresh_tallies([own_campaign.pk])
    counting = tallies.letters_counted

    def count_while_an_organiser_deletes(campaign, now):
        counted = counting(campaign, now)
        Signature.objects.filter(campaign=own_campaign).order_by("pk").first().delete()
        tallies.forget_settled([own_campaign.pk])
        return counted

    monkeypatch.setattr(tallies, "letters_counted", count_while_an_organiser_deletes)
    tallies.refresh_tallies([own_campaign.pk], timezone.now() + timedelta(minutes=1))
    monkeypatch.setattr(tallies, "letters_counted", counting)
    assert Campaign.objects.get(pk=own_campaign.pk).tally_settled_until is None, "its stale part was not kept"
    tallies.refresh_tallies([own_campaign.pk], timezone.now() + timedelta(minutes=2))
    assert tally(own_campaign.pk) == 2


def test_the_exports_index_holds_exactly_the_exportable_signatures(supporters):
    """The index the exports read in order is partial: its condition must be the rule's, or a database would
    not use it (and an export would sort the whole campaign again)."""
    campaign, made = supporters
    [index] = [index for index in Signature._meta.indexes if index.name == "sig_exportable"]
    in_index = Signature.objects.filter(index.condition, campaign=campaign)
    assert names(in_index, made) == names(Signature.objects.filter(campaign=campaign).exportable(), made)
    assert dict(index.condition.children)["moderation__in"] == list(Signature.DELIVERED_MODERATION)


def test_the_progress_figures_count_what_the_rules_say(supporters):
    campaign, _made = supporters
    figures = count_figures(campaign.pk)
    mine = Signature.objects.filter(campaign=campaign)
    assert figures.exportable == mine.exportable().count()
    assert figures.awaiting_decision == mine.filter(awaiting_decision()).count()
    assert figures.states["confirmed"] == mine.confirmed().count()
    assert figures.states["waiting"] == mine.first_signatures().filter(confirmed_at__isnull=True).count()
    assert sum(signed for signed, _confirmed in figures.days.values()) == mine.first_signatures().count()


def test_each_refresh_adds_the_signatures_that_settled_since_the_last_one(own_campaign):
    now = timezone.now()
    settle = tallies.settled_after()
    # Two settled already; three a little younger than the settling age: recent at the first refresh,
    # settled at the next.
    signed_days_ago(own_campaign, 2, settle.days + 1, "older")
    ageing = factories.confirmed_signatures(own_campaign, 3, prefix="ageing")
    Signature.objects.filter(pk__in=[s.pk for s in ageing]).update(created_at=now - settle + timedelta(minutes=10))
    tallies.refresh_tallies([own_campaign.pk], now)
    assert Campaign.objects.get(pk=own_campaign.pk).tally_settled == 2

    tallies.refresh_tallies([own_campaign.pk], now + timedelta(minutes=30))
    campaign = Campaign.objects.get(pk=own_campaign.pk)
    assert (campaign.tally_settled, campaign.tally_letters) == (5, 5), "the three settled: added to the kept part"
    assert campaign.tally_recounted_at == now, "added to, not counted again in full"
