"""Identical letters: when most letters are the model letter word for word, the progress page says so, and a
target may take such letters in its digest while the personal ones still go one by one."""

import pytest

from courrier.campaigns.models import Target
from courrier.delivery import enqueue
from courrier.delivery.models import DigestEntry, OutboxMessage
from courrier.signatures.models import Signature
from tests.factories import OFFICE, OWN_SLUG, confirmed_signatures, organiser
from tests.helpers import sign

pytestmark = pytest.mark.django_db


def test_signing_records_whether_the_letter_is_the_model_word_for_word(own_campaign, client):
    sign(client, slug=OWN_SLUG, email="plain@example.org", personal_sentence="")
    sign(client, slug=OWN_SLUG, email="own@example.org", personal_sentence="Libérez-les, je vous en prie.")
    assert Signature.objects.with_address("plain@example.org").get().is_model_letter is True
    assert Signature.objects.with_address("own@example.org").get().is_model_letter is False


def progress(campaign) -> str:
    manager = organiser(f"manager-{Signature.objects.count()}", campaign.organisation)
    return manager.get(f"/en/studio/c/{campaign.pk}/progress/").content.decode()


def test_the_progress_page_says_when_most_letters_are_identical(own_campaign):
    confirmed_signatures(own_campaign, 18, prefix="same", is_model_letter=True)
    confirmed_signatures(own_campaign, 2, prefix="own", is_model_letter=False, personal_sentence="Mes mots.")
    page = progress(own_campaign)
    assert 'id="identical-letters"' in page and "90 % of the letters that go are the model letter" in page


def test_no_warning_below_the_share_or_with_few_letters(own_campaign):
    confirmed_signatures(own_campaign, 5, prefix="same", is_model_letter=True)
    assert 'id="identical-letters"' not in progress(own_campaign), "five letters say little"
    confirmed_signatures(own_campaign, 20, prefix="own", is_model_letter=False, personal_sentence="Mes mots.")
    assert 'id="identical-letters"' not in progress(own_campaign)


def test_a_target_takes_the_identical_letters_in_its_digest_and_the_personal_ones_one_by_one(own_campaign):
    Target.objects.filter(email=OFFICE).update(model_letters_in_digest=True)
    confirmed_signatures(own_campaign, 2, prefix="same", first_name="Same", is_model_letter=True)
    confirmed_signatures(own_campaign, 1, prefix="own", first_name="Own", is_model_letter=False)
    enqueue.queue_letters()
    to_office = [m for m in OutboxMessage.objects.filter(kind=OutboxMessage.Kind.LETTER) if OFFICE in m.to]
    assert [m.signature.first_name for m in to_office] == ["Own"]
    assert DigestEntry.objects.filter(target__email=OFFICE).count() == 2
