"""A model letter, filled in with what one supporter entered.

Placeholders are substituted by name from a fixed list, never with
``str.format``: a supporter's text can contain braces, and an organiser's
typo must show up as itself rather than raise.
"""

import datetime
import re
from dataclasses import dataclass

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


def placeholder_values(signer: Signer) -> dict[str, str]:
    """Values for the active language (callers wrap this in translation.override)."""
    # Each language writes a letter's date its own way (Russian needs the genitive month: "j E Y").
    date_format = pgettext("date format in a letter, see Django's date filter", "j F Y")
    date = formats.date_format(signer.signed_on or datetime.date.today(), date_format)
    if signer.city:
        place_and_date = _("%(city)s, %(date)s") % {"city": signer.city, "date": date}
    else:
        place_and_date = pgettext("letter date without a city", "%(date)s") % {"date": date}
    if signer.organisation:
        signature = _("For %(organisation)s") % {"organisation": signer.organisation}
        if signer.organisation_role:
            signature += "\n" + _("%(name)s, %(role)s") % {"name": signer.full_name, "role": signer.organisation_role}
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


def render_letter(letter, signer: Signer) -> tuple[str, str]:
    """The (subject, body) a target receives, in the letter's own language."""
    with translation.override(letter.language):
        values = placeholder_values(signer)
    return header_text(fill(letter.subject, values), 250), fill(letter.body, values)


def sample_letter(letter) -> str:
    """The model letter as the campaign page shows it, with the blanks named."""
    with translation.override(letter.language):
        blanks = {
            "signatory": _("[your name or your organisation]"),
            "full_name": _("[your name]"),
            "personal_sentence": _("[your personal sentence, if you add one]"),
            "place_and_date": _("[your city], [today's date]"),
            "signature": _("[your name, and your organisation and role if you sign on its behalf]"),
            "city": _("[your city]"),
            "date": _("[today's date]"),
        }
    return fill(letter.body, blanks)
