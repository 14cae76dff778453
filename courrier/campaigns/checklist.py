"""The pre-publish checklist: what must hold before a campaign goes live.

Each check takes a saved campaign and returns findings. A blocking finding
keeps the campaign from going live (the admin refuses, `manage.py
checkcampaign` exits with status 1); a warning is shown for a human to judge.

- every language the page is published in has its model letter;
- at least one active To target, every target address valid, none twice;
- a sender address is configured, and a real one once the site can send real mail;
- the privacy notice is present;
- the letter checker (letter_checker.py) finds nothing: unknown placeholders,
  names that are near-misses of the case file's (blocking), dates that have
  passed (warnings: a letter about a repression names the day it happened).

Other code extends the checklist by appending a function to CHECKS.
"""

from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.template import TemplateDoesNotExist, loader
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _

from courrier.campaigns import letter_checker
from courrier.campaigns.letter_checker import BLOCKING, WARNING, Finding
from courrier.campaigns.models import Campaign, Target
from courrier.lib.headers import is_plain_address

__all__ = [
    "BLOCKING",
    "CHECKS",
    "WARNING",
    "Finding",
    "blocking",
    "enabled_languages",
    "is_operators_matter",
    "run_checklist",
]


def run_checklist(campaign: Campaign) -> list[Finding]:
    """Every finding for a saved campaign, those that block going live first."""
    findings = [finding for check in CHECKS for finding in check(campaign)]
    return sorted(findings, key=lambda finding: not finding.blocks)


def blocking(findings: Iterable[Finding]) -> list[Finding]:
    return [finding for finding in findings if finding.blocks]


# Findings about the site's own settings and templates (its sender addresses, its privacy notice): the site's
# operators fix them, not a campaign's organisers, who are told only that the site is not ready.
OPERATOR_FIELDS = {"sender", "privacy"}


def is_operators_matter(finding: Finding) -> bool:
    return finding.field in OPERATOR_FIELDS


def language_name(code: str) -> str:
    """The language's name in the reader's language ("russe" in French), read when the finding is shown."""
    try:
        return get_language_info(code)["name_translated"]
    except KeyError:
        return code


def enabled_languages(campaign: Campaign) -> list[str]:
    """The languages the page is published in: the original, then each CampaignText."""
    languages = [campaign.language]
    for text in campaign.texts.all():
        if text.language not in languages:
            languages.append(text.language)
    return languages


def model_letters(campaign: Campaign) -> list[Finding]:
    written = {letter.language for letter in campaign.letters.all()}
    return [
        Finding(
            "missing_letter",
            BLOCKING,
            _("The page is published in %(language)s, but there is no model letter in %(language)s."),
            {"language": language_name(language)},
            language,
            "letters",
        )
        for language in enabled_languages(campaign)
        if language not in written
    ]


def targets(campaign: Campaign) -> list[Finding]:
    active = [target for target in campaign.targets.all() if target.active]
    findings = []
    # A campaign that sends every letter to the supporter's country needs no To target of its own.
    relies_on_directory = campaign.use_directory and campaign.directory.exists()
    if not relies_on_directory and not any(target.role == Target.Role.TO for target in active):
        findings.append(
            Finding("no_to_target", BLOCKING, _("There is no active To target: the letters would go to nobody."))
        )
    seen: set[str] = set()
    for target in active:
        address = target.email.strip().lower()
        if not is_valid_address(target.email):
            findings.append(
                Finding(
                    "invalid_target",
                    BLOCKING,
                    _("The address of %(name)s, “%(email)s”, is not a valid e-mail address."),
                    {"name": target.name, "email": target.email},
                    field="targets",
                    subject=target.email,
                )
            )
        elif address in seen:
            findings.append(
                Finding(
                    "duplicate_target",
                    BLOCKING,
                    _("%(email)s is a target twice: it would receive every letter twice."),
                    {"email": target.email},
                    field="targets",
                    subject=address,
                )
            )
        seen.add(address)
    return findings


def is_valid_address(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    # The delivery code passes addresses to SMTP as they are: nothing to quote or encode.
    return is_plain_address(address)


# Domains that can never receive a reply or pass a receiver's checks (RFC 2606, RFC 6761).
PLACEHOLDER_DOMAINS = ("localhost", "localdomain", "example.com", "example.org", "example.net")
PLACEHOLDER_SUFFIXES = (".localhost", ".localdomain", ".local", ".invalid", ".test", ".example")


def is_placeholder_address(address: str) -> bool:
    domain = address.rsplit("@", 1)[-1].lower().rstrip(".")
    return domain in PLACEHOLDER_DOMAINS or domain.endswith(PLACEHOLDER_SUFFIXES) or "." not in domain


def sender_address(campaign: Campaign) -> list[Finding]:
    """Letters go From LETTERS_SENDER_EMAIL, mail to supporters From SENDER_EMAIL (settings.py).

    A placeholder such as the default courrier@localhost is fine while every
    message goes to the sandbox, and blocks once EMAIL_HOST makes real mail possible.
    """
    settings_by_address: dict[str, list[str]] = {}
    for name in ("LETTERS_SENDER_EMAIL", "SENDER_EMAIL"):
        settings_by_address.setdefault(getattr(settings, name, "") or "", []).append(name)
    findings = []
    for address, names in settings_by_address.items():
        if not address or not is_valid_address(address):
            findings.append(
                Finding(
                    "sender_missing",
                    BLOCKING,
                    _("%(setting)s is not a valid e-mail address (“%(address)s”): mail cannot be sent From it."),
                    {"setting": " = ".join(names), "address": address},
                    field="sender",
                    subject=address,
                )
            )
        elif is_placeholder_address(address):
            findings.append(
                Finding(
                    "sender_placeholder",
                    BLOCKING if settings.EMAIL_HOST else WARNING,
                    _(
                        "%(setting)s is %(address)s, an address at a placeholder domain: set it to an address at "
                        "your own domain before real mail is sent."
                    ),
                    {"setting": " = ".join(names), "address": address},
                    field="sender",
                    subject=address,
                )
            )
    return findings


# Where supporters are told, before they sign, who receives their name and what
# goes with it. The project has no separate privacy page: the notice is the
# "Who receives your letter" section of the campaign page, which names the
# targets (so it needs a To target, checked above) and lists what they receive.
# A site-wide privacy page, once there is one, belongs in this list too.
PRIVACY_NOTICES = [("campaigns/detail.html", "They receive your first and last name")]


def privacy_notice(campaign: Campaign) -> list[Finding]:
    findings = []
    for template_name, statement in PRIVACY_NOTICES:
        try:
            source = loader.get_template(template_name).template.source
        except TemplateDoesNotExist:
            source = ""
        if statement not in source:
            findings.append(
                Finding(
                    "privacy_notice_missing",
                    BLOCKING,
                    _("The campaign page (%(template)s) no longer tells supporters where their name goes."),
                    {"template": template_name},
                    field="privacy",
                    subject=template_name,
                )
            )
    organisation = campaign.organisation
    if not (organisation.contact_email or organisation.website):
        findings.append(
            Finding(
                "privacy_no_contact",
                WARNING,
                _(
                    "%(organisation)s has neither a contact e-mail nor a website: supporters cannot find out "
                    "who holds their data or ask for it."
                ),
                {"organisation": organisation.name},
                field="privacy",
            )
        )
    return findings


CHECKS: list[Callable[[Campaign], Iterable[Finding]]] = [
    model_letters,
    targets,
    sender_address,
    privacy_notice,
    letter_checker.check_campaign,
]
