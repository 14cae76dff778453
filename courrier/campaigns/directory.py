"""The target directory as CSV: import it whole (every row valid, or nothing changes), export it.

The file has the columns country, country_name, name, email, language, one entry per country. It is
read as UTF-8 with or without a byte order mark, comma- or semicolon-separated (a French spreadsheet
saves semicolons). An import replaces the campaign's directory: the file is the directory, so an
export, edited and imported again, changes exactly what was edited.

Exported cells that a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return) get a leading quote; the import takes that quote off again.

Where the letters to an entry actually go, and how they are paced: courrier/delivery/addressees.py.
"""

import csv
import io
import re
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils.translation import gettext as _

from courrier.campaigns.models import Campaign, DirectoryEntry
from courrier.lib.headers import is_plain_address
from courrier.lib.spreadsheets import neutralised, unneutralised

COLUMNS = ["country", "country_name", "name", "email", "language"]
MAX_BYTES = 2_000_000  # some 20,000 entries: far more than there are countries
_COUNTRY_CODE = re.compile(r"^[A-Z]{2}$")
_MAX_LENGTHS = {"country_name": 100, "name": 200, "email": 254}


class DirectoryImportError(Exception):
    """The file cannot be imported; `errors` says why, row by row, in the active language."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)  # country codes
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return _("%(added)d added, %(updated)d changed, %(removed)d removed, %(unchanged)d unchanged") % {
            "added": len(self.added),
            "updated": len(self.updated),
            "removed": len(self.removed),
            "unchanged": self.unchanged,
        }


def export_csv(campaign: Campaign) -> bytes:
    """The directory as CSV, UTF-8 with a byte order mark so that spreadsheets read every script."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for entry in campaign.directory.order_by("country_name", "country"):
        writer.writerow([neutralised(str(getattr(entry, column))) for column in COLUMNS])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def read_rows(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """(row number as a spreadsheet shows it, {column: cell}) for every non-empty row; raises on a bad file."""
    if len(data) > MAX_BYTES:
        raise DirectoryImportError([_("The file is too large: a directory file is at most 2 MB.")])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DirectoryImportError(
            [_("The file is not UTF-8 text. Save it from your spreadsheet as “CSV UTF-8” and try again.")]
        ) from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise DirectoryImportError([_("The file cannot be read as CSV: %(error)s") % {"error": exc}]) from None
    if not rows:
        raise DirectoryImportError([_("The file is empty.")])
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise DirectoryImportError(
            [
                _("The first row must name the columns %(columns)s. Missing: %(missing)s.")
                % {"columns": ", ".join(COLUMNS), "missing": ", ".join(missing)}
            ]
        )
    positions = {column: header.index(column) for column in COLUMNS}
    result = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue  # a blank line, often left at the end by a spreadsheet
        cells = {
            column: unneutralised(row[position].strip()) if position < len(row) else ""
            for column, position in positions.items()
        }
        result.append((number, cells))
    if not result:
        raise DirectoryImportError([_("The file has its column names but no entries.")])
    return result


def row_errors(number: int, cells: dict[str, str], seen: dict[str, int]) -> list[str]:
    """What is wrong with one row, each message naming its row number."""
    errors = []

    def error(message: str, **values) -> None:
        errors.append(_("Row %(row)d: %(problem)s") % {"row": number, "problem": message % values})

    country = cells["country"].upper()
    if not _COUNTRY_CODE.match(country):
        error(_("the country code “%(code)s” is not two letters (ISO 3166, for example FR)."), code=cells["country"])
    elif country in seen:
        error(_("%(code)s is already on row %(other)d: one entry per country."), code=country, other=seen[country])
    else:
        seen[country] = number
    for column in ("country_name", "name", "email"):  # the file's own column names: not translated
        if not cells[column]:
            error(_("the column %(column)s is empty."), column=column)
        elif len(cells[column]) > _MAX_LENGTHS[column]:
            error(_("%(column)s is longer than %(limit)d characters."), column=column, limit=_MAX_LENGTHS[column])
    email = cells["email"]
    if email and not is_valid_address(email):
        error(_("“%(email)s” is not a valid e-mail address."), email=email)
    language = cells["language"].lower()
    codes = [code for code, _name in settings.LANGUAGES]
    if language and language not in codes:
        error(
            _("unknown language “%(language)s”: write one of %(codes)s, or leave it empty."),
            language=cells["language"],
            codes=", ".join(codes),
        )
    return errors


def is_valid_address(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return is_plain_address(address)  # given to SMTP as it is: nothing to quote or encode


def parse(data: bytes) -> list[DirectoryEntry]:
    """The entries of a file (unsaved, without a campaign); raises DirectoryImportError listing every bad row."""
    rows = read_rows(data)
    errors: list[str] = []
    seen: dict[str, int] = {}
    for number, cells in rows:
        errors += row_errors(number, cells, seen)
    if errors:
        raise DirectoryImportError(errors)
    return [
        DirectoryEntry(
            country=cells["country"].upper(),
            country_name=cells["country_name"],
            name=cells["name"],
            email=cells["email"],
            language=cells["language"].lower(),
        )
        for _number, cells in rows
    ]


@transaction.atomic
def import_directory(campaign: Campaign, data: bytes) -> ImportResult:
    """Replace the campaign's directory with the file's entries, or change nothing if any row is bad."""
    entries = parse(data)
    existing = {entry.country: entry for entry in campaign.directory.select_for_update()}
    result = ImportResult()
    compared = ["country_name", "name", "email", "language"]
    for entry in entries:
        current = existing.pop(entry.country, None)
        if current is None:
            entry.campaign = campaign
            entry.save()
            result.added.append(entry.country)
        elif any(getattr(current, name) != getattr(entry, name) for name in compared):
            for name in compared:
                setattr(current, name, getattr(entry, name))
            current.save()
            result.updated.append(entry.country)
        else:
            result.unchanged += 1
    if existing:
        campaign.directory.filter(country__in=list(existing)).delete()
        result.removed = sorted(existing)
    return result
