"""A campaign from a published call: the founding appeal and others like it, read into a draft to review."""

from pathlib import Path

import pytest

import courrier.campaigns
from courrier.campaigns import letter_checker
from courrier.campaigns.appeals import create_draft, read_appeal
from courrier.campaigns.letters import PLACEHOLDERS
from courrier.campaigns.models import Campaign, Target
from tests.factories import new_organisation

# The founding call as it was published (shipped with the demo campaign, courrier/campaigns/demo.py).
FOUNDING_CALL = (Path(courrier.campaigns.__file__).parent / "founding_call.txt").read_text()

ENGLISH_CALL = """\
Free the Minsk Four

On 3 March, four trade unionists were arrested in Minsk: Anna Petrova, Ihar Kovalenka, Maksim Sauchuk and
Volha Brytsikava. Anna Petrova has been held in solitary confinement since.

Please write to the Embassy of Belarus in London at embassy@belarus.example.org, with a copy to the union at
solidarity@bitu.example.org.

Dear Ambassador,

We protest against the arrest of Anna Petrova, Ihar Kavalenka, Maksim Sauchuk and Volha Brytsikava, whose only
crime was to organise workers. We demand their immediate release and an end to the persecution of unions.

We ask you to pass our demand on to your government without delay, and to answer this letter.

London, 14 March 2024

On behalf of the Solidarity Committee
"""

RUSSIAN_CALL = """\
Свободу активистам Алматы

6 июля в Алматы были задержаны Валихан Султанов, Ырысбек Токтасын и Даурен Достияров.

Напишите в посольство Казахстана: embassy@kz.example.org
Копию отправьте для Red Yurt: copy@redyurt.example.org

«Уважаемый господин посол!

Мы выражаем протест против задержания Валихана Султанова, Ырысбека Токтасына и Даурена Достиярова. Мы требуем
их немедленного освобождения и прекращения преследований. Право на мирные собрания является основным правом
человека, и мы просим вас передать наше требование вашему правительству.

Москва, 13 июля 2021 г.

От имени Комитета солидарности»
"""


def test_the_founding_call_gives_its_title_story_letter_addresses_and_people():
    draft = read_appeal(FOUNDING_CALL)
    assert draft.language == "fr"
    assert draft.title == "Répression du mouvement social au Kazakhstan"
    assert draft.summary.startswith("Alors que les prix des produits de première nécessité")
    assert draft.article.startswith("Alors que") and draft.article.rstrip().endswith("chakmonro@ya.ru")
    assert [(a.email, a.role, a.name) for a in draft.addresses] == [
        ("paris@mfa.kz", Target.Role.TO, "Ambassade du Kazakhstan en France"),
        ("chakmonro@ya.ru", Target.Role.CC, "Red Yurt"),
    ]
    assert [(p.name, p.variants) for p in draft.people] == [
        ("Valikhan Sultanov", ["Valikha Sultanov"]),
        ("Yrysbek Toktasyn", ["Yrbsek Tottasyn"]),
        ("Dostiyarov Dauren", []),
    ]
    assert draft.caption == "Un camarade de Red Yurt manifestant au Kazakhstan, avant son arrestation"


def test_the_letter_is_the_quoted_one_with_its_first_signatorys_lines_made_placeholders():
    body = read_appeal(FOUNDING_CALL).letter_body
    assert body.startswith("Monsieur l’Ambassadeur du Kazakhstan en France,\n\nNous vous écrivons")
    # The quotations inside the letter stay in it.
    assert "« nassés »" in body and "« SOBR »" in body
    assert "{signatory} exige que tous les manifestants soient immédiatement relâchés" in body
    assert body.endswith("{personal_sentence}\n\n{place_and_date}\n\n{signature}\n")
    for written in (
        "Paris, le 13 juillet 2021",
        "Pour la Gauche révolutionnaire",
        "La Gauche révolutionnaire, section",
    ):
        assert written not in body
    # Nothing of the story before the letter, or of the caption after it.
    assert "Voici, le courrier" not in body and "Un camarade" not in body
    assert set(letter_checker._BRACED.findall(body)) <= set(PLACEHOLDERS)


def test_an_english_call_without_quotation_marks_starts_its_letter_at_the_salutation():
    draft = read_appeal(ENGLISH_CALL)
    assert draft.language == "en" and draft.title == "Free the Minsk Four"
    assert draft.letter_body.startswith("Dear Ambassador,\n\nWe protest against the arrest")
    assert "London, 14 March 2024" not in draft.letter_body and "On behalf of" not in draft.letter_body
    assert draft.letter_body.endswith("{place_and_date}\n\n{signature}\n")
    assert [(a.email, a.role, a.name) for a in draft.addresses] == [
        ("embassy@belarus.example.org", Target.Role.TO, "Embassy of Belarus in London"),
        ("solidarity@bitu.example.org", Target.Role.CC, "The union"),
    ]
    assert [(p.name, p.variants) for p in draft.people] == [
        ("Anna Petrova", []),
        ("Ihar Kovalenka", ["Ihar Kavalenka"]),
        ("Maksim Sauchuk", []),
        ("Volha Brytsikava", []),
    ]


def test_a_russian_call_keeps_declined_names_as_the_same_people_not_as_slips():
    draft = read_appeal(RUSSIAN_CALL)
    assert draft.language == "ru"
    assert draft.letter_body.startswith("Уважаемый господин посол!")
    assert "{place_and_date}" in draft.letter_body and "Москва" not in draft.letter_body
    assert "От имени" not in draft.letter_body
    assert [(p.name, p.variants) for p in draft.people] == [
        ("Валихан Султанов", []),
        ("Ырысбек Токтасын", []),
        ("Даурен Достияров", []),
    ]
    assert [(a.email, a.role, a.name) for a in draft.addresses] == [
        ("embassy@kz.example.org", Target.Role.TO, "Посольство Казахстана"),
        ("copy@redyurt.example.org", Target.Role.CC, "Red Yurt"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n  ",
        "Juste un titre",
        "x" * 60_000,
        "«" * 500 + "»" * 3,
        "Write to a@b.example.org and a@b.example.org, copy to c@d.example.org",
        "Monsieur,\n\n" + "{ braces } et { encore\n" * 30,
    ],
)
def test_any_text_gives_a_draft_and_never_an_error(text):
    draft = read_appeal(text)
    assert len(draft.title) <= 200 and len(draft.summary) <= 600 and len(draft.caption) <= 300
    assert len({a.email.lower() for a in draft.addresses}) == len(draft.addresses)


def test_the_draft_is_a_sandboxed_draft_whose_checker_flags_the_calls_misspelt_names(db):
    organisation = new_organisation("Gauche révolutionnaire")
    campaign = create_draft(read_appeal(FOUNDING_CALL), organisation, None)
    assert campaign.status == Campaign.Status.DRAFT and not campaign.real_delivery
    assert campaign.slug == "repression-du-mouvement-social-au-kazakhstan"
    assert [(t.role, t.email) for t in campaign.targets.order_by("role")] == [
        ("cc", "chakmonro@ya.ru"),
        ("to", "paris@mfa.kz"),
    ]
    assert [p.name for p in campaign.people.all()] == ["Valikhan Sultanov", "Yrysbek Toktasyn", "Dostiyarov Dauren"]
    assert [letter.language for letter in campaign.letters.all()] == ["fr"]
    flagged = {f.subject for f in letter_checker.check_campaign(campaign) if f.code == "name_near_miss"}
    assert {"Valikha Sultanov", "Yrbsek Tottasyn"} <= flagged
    # A second draft of the same call gets an address of its own.
    assert create_draft(read_appeal(FOUNDING_CALL), organisation, None).slug.endswith("-2")


def test_a_call_listing_hundreds_of_signatories_keeps_a_case_file_of_bounded_size():
    import random
    import string

    from courrier.campaigns.appeals import MAX_PEOPLE

    chosen = random.Random(1)

    def word() -> str:
        return chosen.choice(string.ascii_uppercase) + "".join(chosen.choices(string.ascii_lowercase, k=7))

    signatories = ", ".join(f"{word()} {word()}" for _ in range(2000))
    draft = read_appeal("Des milliers de signataires\n\n" + signatories)
    assert len(draft.people) == MAX_PEOPLE
    assert draft.people[0].name == signatories.split(", ")[0]
