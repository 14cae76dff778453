"""Small builders for the tests: organisations, organisers, campaigns and signatures of the tests' own.

A test that is about a rule (who counts, what goes out, who may do what) builds the few rows it needs here,
rather than leaning on the demo campaign, whose prose and addresses belong to the demo.
"""

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from courrier.accounts.models import Membership, Organisation
from courrier.campaigns.models import Campaign, CampaignText, ModelLetter, Target
from courrier.delivery import enqueue
from courrier.signatures.models import Signature
from tests.helpers import deliver_everything, letters

# The addresses of a campaign of the tests' own: never the demo's real ones, each on a domain of its own.
OFFICE = "office@ministry.example"
ALLY = "allies@solidarity.example"
OWN_SLUG = "free-them"  # the own_campaign fixture's (tests/conftest.py)
OWN_PAGE = f"/fr/c/{OWN_SLUG}/"
# Its embedded form, and the organisation's website allowed to frame it (the embeddable fixture).
EMBED_URL = f"/fr/embed/{OWN_SLUG}/"
EMBED_SIGN_URL = EMBED_URL + "sign/"
ORGANISATION_SITE = "https://www.solidarity.example"
# Its page in the four languages: French as written, the others translated.
OWN_TITLES = {"en": "Free the strikers", "ru": "Свободу бастующим", "kk": "Ереуілшілерге бостандық"}


# The subject and greeting of a campaign's letter in each language but its first (whose letter is French).
LETTER_OPENINGS = {
    "fr": ("Lettre", "Madame,"),
    "en": ("Letter", "Dear,"),
    "ru": ("Письмо", "Уважаемые,"),
    "kk": ("Хат", "Құрметті,"),
}


def new_organisation(name: str = "Solidarity group") -> Organisation:
    """An organisation that says who holds the supporters' data, as the checklist asks."""
    return Organisation.objects.create(name=name, contact_email="contact@solidarity.example")


def confirmed_signatures(campaign, count: int, at=None, first_name: str = "Әсел", prefix: str = "p", **fields):
    """`count` signatures already confirmed, their confirmation mail already queued: ready for letters."""

    at = at or timezone.now()
    return Signature.objects.bulk_create(
        Signature(
            campaign=campaign,
            first_name=first_name,
            last_name=f"Signer {i}",
            email=f"{prefix}{i}@example.org",
            language="fr",
            letter_language="fr",
            consent_send=True,
            confirmed_at=at,
            confirmation_queued_at=at,
            **fields,
        )
        for i in range(count)
    )


def organiser(username: str, organisation=None, role: str = "manager", language: str | None = None, **fields):
    """A logged-in staff client that is not a superuser: what it may do comes from its membership.

    They work in the studio (/<lang>/studio/), which wants their own address first: they have one unless
    `email` says otherwise. `language` sets the Accept-Language of pages outside the studio's language prefix.
    """

    fields.setdefault("email", f"{username}@organisers.example")
    user = User.objects.create_user(username, password="a long test password", is_staff=True, **fields)
    if organisation is not None:
        Membership.objects.create(user=user, organisation=organisation, role=role)
    client = Client(HTTP_ACCEPT_LANGUAGE=language) if language else Client()
    client.force_login(user)  # the second factor is passed too (tests/conftest.py)
    client.user = user
    return client


def operator(username: str = "operator") -> Client:
    """A logged-in superuser: the site's operator, the only one the admin lets in."""
    user = User.objects.create_superuser(username, f"{username}@operators.example", "a long test password")
    client = Client()
    client.force_login(user)  # the second factor is passed too (tests/conftest.py)
    client.user = user
    return client


def live_campaign(slug: str, organisation=None, to: str = "office@target.example", **fields):
    """A small live campaign of its own, with a model letter in its language (French unless told) and one To
    target (never the demo's)."""

    campaign = Campaign.objects.create(
        organisation=organisation or new_organisation(f"Organisers of {slug}"),
        slug=slug,
        title=fields.pop("title", f"Campaign {slug}"),
        summary=fields.pop("summary", "A campaign of the tests."),
        status=fields.pop("status", Campaign.Status.LIVE),
        **fields,
    )
    ModelLetter.objects.create(
        campaign=campaign,
        language=campaign.language,
        subject=f"Lettre {slug}",
        body="Madame,\n\n{personal_sentence}\n\n{signature}",
    )
    Target.objects.create(campaign=campaign, name=f"Office of {slug}", email=to)
    return campaign


def campaign(
    slug: str = "free-them",
    languages: tuple[str, ...] = ("fr",),
    to: str = OFFICE,
    cc: str | None = None,
    titles: dict[str, str] | None = None,
    **fields,
) -> Campaign:
    """A live campaign with a model letter in each of `languages`, one To target and maybe one Cc, and its
    page translated where `titles` gives a title ({language: title})."""
    titles = titles or {}
    made = live_campaign(slug, to=to, language=languages[0], **fields)
    for language in languages[1:]:
        subject, greeting = LETTER_OPENINGS[language]
        ModelLetter.objects.create(
            campaign=made,
            language=language,
            subject=f"{subject} {slug}",
            body=f"{greeting}\n\n{{personal_sentence}}\n\n{{signature}}",
        )
    if cc:
        Target.objects.create(campaign=made, name=f"Allies of {slug}", email=cc, role=Target.Role.CC)
    for language, title in titles.items():
        CampaignText.objects.create(campaign=made, language=language, title=title, summary=f"{title}.")
    return made


def signature(campaign: Campaign, email: str = "supporter@example.org", confirmed: bool = True, **fields) -> Signature:
    """One supporter's signature, saved as the signing request writes it (confirmed unless told otherwise)."""
    now = timezone.now()
    values = {
        "first_name": "Ұлжан",
        "last_name": "Қасымова",
        "language": campaign.language,
        "letter_language": campaign.language,
        "consent_send": True,
        "confirmed_at": now if confirmed else None,
        "confirmation_queued_at": now if confirmed else None,
        **fields,
    }
    return Signature.objects.create(campaign=campaign, email=email, **values)


def delivered_letters(campaign, count: int, **fields) -> list:
    """`count` letters written and sent (to the sandbox) by the worker, as a bounce finds them later."""
    campaign.targets.update(pace_per_hour=3_600_000)
    confirmed_signatures(campaign, count, **fields)
    enqueue.queue_letters()
    deliver_everything()
    return list(letters().order_by("pk"))
