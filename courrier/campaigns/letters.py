"""A model letter, filled in with what one supporter entered.

Placeholders are substituted by name from a fixed list, never with
``str.format``: a supporter's text can contain braces, and an organiser's
typo must show up as itself rather than raise.
"""

import datetime
import re
from dataclasses import dataclass

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from courrier.lib.headers import header_text

PLACEHOLDERS = ("signatory", "full_name", "personal_sentence", "place_and_date", "signature", "city", "date")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_EXTRA_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


@dataclass
class Signer:
    first_name: str
    last_name: str
    organisation: str = ""
    organisation_role: str = ""
    city: str = ""
    personal_sentence: str = ""
    signed_on: datetime.date | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def letter_phrases(signed_on: datetime.date | None = None) -> dict[str, str]:
    """The date and the phrases around the signer's values, in the active language.

    Shared by the letters the worker sends and the preview the signing page fills
    in the browser, so that both say exactly the same thing.
    """
    # Each language writes a letter's date its own way (Russian needs the genitive month: "j E Y").
    date_format = pgettext("date format in a letter, see Django's date filter", "j F Y")
    return {
        "date": formats.date_format(signed_on or datetime.date.today(), date_format),
        "place_and_date": _("%(city)s, %(date)s"),
        "date_alone": pgettext("letter date without a city", "%(date)s"),
        "for_organisation": _("For %(organisation)s"),
        "name_and_role": _("%(name)s, %(role)s"),
    }


def placeholder_values(signer: Signer) -> dict[str, str]:
    """Values for the active language (callers wrap this in translation.override)."""
    phrases = letter_phrases(signer.signed_on)
    date = phrases["date"]
    if signer.city:
        place_and_date = phrases["place_and_date"] % {"city": signer.city, "date": date}
    else:
        place_and_date = phrases["date_alone"] % {"date": date}
    if signer.organisation:
        signature = phrases["for_organisation"] % {"organisation": signer.organisation}
        if signer.organisation_role:
            signature += "\n" + phrases["name_and_role"] % {"name": signer.full_name, "role": signer.organisation_role}
        else:
            signature += "\n" + signer.full_name
    else:
        signature = signer.full_name
    return {
        "signatory": signer.organisation or signer.full_name,
        "full_name": signer.full_name,
        "personal_sentence": signer.personal_sentence.strip(),
        "place_and_date": place_and_date,
        "signature": signature,
        "city": signer.city,
        "date": date,
    }


def fill(template: str, values: dict[str, str]) -> str:
    text = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template.replace("\r\n", "\n"))
    # An empty optional part (no personal sentence) must not leave a hole.
    return _EXTRA_BLANK_LINES.sub("\n\n", text).strip() + "\n"


def render_letter(letter, signer: Signer, edited_body: str = "") -> tuple[str, str]:
    """The (subject, body) a target receives, in the letter's own language.

    edited_body: the supporter's own version of the whole letter, when the campaign lets
    them edit it; its placeholders ({signature}...) are filled in like the model's.
    """
    with translation.override(letter.language):
        values = placeholder_values(signer)
    return header_text(fill(letter.subject, values), 250), fill(edited_body or letter.body, values)


def versions_for_targets(letters, own_language: str, target_languages: list[str]) -> list:
    """The model letters, in the targets' own languages, to add after the supporter's version.

    Only languages other than the supporter's letter, and only those the campaign has a
    model letter in (never a fallback: a second copy in the same language helps nobody).
    """
    by_language = {letter.language: letter for letter in letters}
    languages = []
    for language in target_languages:
        if language and language != own_language and language in by_language and language not in languages:
            languages.append(language)
    return [by_language[language] for language in languages]


def render_bilingual_letter(letter, signer: Signer, edited_body: str, versions: list) -> tuple[str, str]:
    """The supporter's letter, then each target-language model letter below a separator line.

    The other versions are the model letters filled in with the same signer: the personal
    sentence stays as the supporter wrote it, untranslated. Both subjects are kept, so the
    target can read the subject line in its own language.
    """
    subject, body = render_letter(letter, signer, edited_body)
    names = dict(settings.LANGUAGES)  # each language named in itself: no translation needed
    for version in versions:
        other_subject, other_body = render_letter(version, signer)
        separator = f"---------- {names.get(version.language, version.language)} ----------"
        body = f"{body.rstrip()}\n\n{separator}\n\n{other_body}"
        subject = header_text(f"{subject} / {other_subject}", 250)
    return subject, body


def blanks() -> dict[str, str]:
    """The placeholders named for a reader, in the active language."""
    return {
        "signatory": _("[your name or your organisation]"),
        "full_name": _("[your name]"),
        "personal_sentence": _("[your personal sentence, if you add one]"),
        "place_and_date": _("[your city], [today's date]"),
        "signature": _("[your name, and your organisation and role if you sign on its behalf]"),
        "city": _("[your city]"),
        "date": _("[today's date]"),
    }


def sample_letter(letter) -> str:
    """The model letter as the campaign page shows it, with the blanks named."""
    with translation.override(letter.language):
        named = blanks()
    return fill(letter.body, named)


def preview_data(letters, today: datetime.date | None = None) -> dict[str, dict]:
    """What the signing page's script needs to fill in each model letter as the supporter types.

    Keyed by language; the body keeps its placeholders, and the phrases and blanks are
    in the letter's language, as in the letter the worker will send.
    """
    data = {}
    for letter in letters:
        with translation.override(letter.language):
            data[letter.language] = {
                "subject": letter.subject,
                "body": letter.body.replace("\r\n", "\n"),
                "phrases": letter_phrases(today),
                "blanks": blanks(),
            }
    return data
