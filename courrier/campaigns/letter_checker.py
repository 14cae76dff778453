"""The letter checker: what a proofreader would catch before a letter goes to an embassy.

A letter that misspells the name of the person it defends is easy to dismiss,
and an organiser who copies a name by hand rarely sees the slip (the founding
letter writes "Valikhan Sultanov", then "Valikha Sultanov"). So the checker
compares every name written in the letters and on the page with the case file
(Person.name and its other spellings) and flags the near-misses. It also flags
placeholders the letters do not know, and dates that have already passed.

Names are found as runs of capitalised words, in Latin or Cyrillic letters.
Russian and Kazakh decline names ("Валихана Султанова", "Султановқа"): a known
name followed by a case ending is the same name, not a misspelling.
"""

import dataclasses
import datetime
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

from django.conf import settings
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.letters import PLACEHOLDERS

BLOCKING = "blocking"
WARNING = "warning"

# Where a finding is, shown next to its language.
FIELDS = {
    "subject": _("letter subject"),
    "body": _("letter body"),
    "title": _("page title"),
    "summary": _("page summary"),
    "article": _("article"),
    "letters": _("model letters"),
    "targets": _("targets"),
    "sender": _("sender address"),
    "privacy": _("privacy notice"),
}


@dataclass(frozen=True)
class Finding:
    """One thing to fix (blocking) or to look at (warning) before a campaign goes live.

    The message is kept as a lazy translation and its values, and formatted when
    read, so the admin shows it in the organiser's language and the command in its own.
    """

    code: str
    severity: str
    template: Promise | str
    params: dict = dataclasses.field(default_factory=dict, compare=False, hash=False)
    language: str = ""
    field: str = ""
    subject: str = ""  # what the finding is about ("Valikha Sultanov", "{unknown}"), for deduplication and tests

    @property
    def blocks(self) -> bool:
        return self.severity == BLOCKING

    @property
    def message(self) -> str:
        return str(self.template) % {key: str(value) for key, value in self.params.items()}

    @property
    def field_label(self) -> str:
        return str(FIELDS.get(self.field, self.field))

    @property
    def where(self) -> str:
        language = dict(settings.LANGUAGES).get(self.language, self.language)
        return ", ".join(part for part in (language, self.field_label) if part)

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


@dataclass(frozen=True)
class Text:
    language: str
    field: str
    text: str

    @property
    def is_letter(self) -> bool:
        return self.field in ("subject", "body")


def campaign_texts(campaign) -> list[Text]:
    """Every text a supporter or a target reads: the model letters and the page in each language."""
    texts = []
    for letter in campaign.letters.all():
        texts += [Text(letter.language, "subject", letter.subject), Text(letter.language, "body", letter.body)]
    for page in [campaign.original_text(), *campaign.texts.all()]:
        texts += [Text(page.language, name, getattr(page, name)) for name in ("title", "summary", "article")]
    return texts


def check_campaign(campaign, today: datetime.date | None = None) -> list[Finding]:
    """The letter checker's findings for a saved campaign: placeholders, names, dates."""
    texts = campaign_texts(campaign)
    letters = [text for text in texts if text.is_letter]
    people = [(person.name, person.spellings()) for person in campaign.people.all()]
    findings = [*check_placeholders(letters), *check_names(texts, people)]
    if not people:
        findings.append(
            Finding(
                "empty_case_file",
                WARNING,
                _("The case file names nobody, so the names in the letters cannot be checked."),
            )
        )
    return unique([*findings, *check_dates(letters, today or timezone.localdate())])


def check_letter(campaign, language: str, subject: str, body: str, today: datetime.date | None = None) -> list[Finding]:
    """The findings for one letter as it is being written (not saved yet): placeholders, names, dates."""
    letters = [Text(language, "subject", subject), Text(language, "body", body)]
    people = [(person.name, person.spellings()) for person in campaign.people.all()]
    return unique(
        [
            *check_placeholders(letters),
            *check_names(letters, people),
            *check_dates(letters, today or timezone.localdate()),
        ]
    )


def unique(findings: Iterable[Finding]) -> list[Finding]:
    """The same slip written three times in one text is one thing to fix."""
    seen = set()
    kept = []
    for finding in findings:
        key = (finding.code, finding.language, finding.field, finding.subject)
        if key not in seen:
            seen.add(key)
            kept.append(finding)
    return kept


# Placeholders ---------------------------------------------------------------

_BRACED = re.compile(r"\{([^{}\n]*)\}")


def check_placeholders(letters: Iterable[Text]) -> list[Finding]:
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    findings = []
    for text in letters:
        for match in _BRACED.finditer(text.text):
            if match.group(1) not in PLACEHOLDERS:
                findings.append(
                    Finding(
                        "unknown_placeholder",
                        BLOCKING,
                        _(
                            "Unknown placeholder “%(placeholder)s”: it would reach the target as written. "
                            "Known: %(known)s."
                        ),
                        {"placeholder": match.group(0), "known": known},
                        text.language,
                        text.field,
                        match.group(0),
                    )
                )
        leftover = _BRACED.sub(lambda m: " " * len(m.group(0)), text.text)
        for match in re.finditer(r"[{}]", leftover):
            context = " ".join(text.text[max(0, match.start() - 20) : match.end() + 20].split())
            findings.append(
                Finding(
                    "unbalanced_brace",
                    BLOCKING,
                    _("A lone “%(brace)s” in “…%(context)s…”: placeholders are written with both braces, {like_this}."),
                    {"brace": match.group(0), "context": context},
                    text.language,
                    text.field,
                    context,
                )
            )
    return findings


# Names ------------------------------------------------------------------------

# How close a written name must be to a known one to be taken for a misspelling of it.
# 0.8 catches "Yrbsek Tottasyn" for "Yrysbek Toktasyn" (0.84), and keeps unrelated
# capitalised phrases ("Dear Ambassador", "Red Yurt") far below (about 0.3).
NAME_SIMILARITY = 0.8
# Lower-case particles that belong inside a name: "Jean de la Fontaine", "Ludwig van Beethoven".
PARTICLES = {"de", "la", "le", "du", "des", "van", "von", "der", "den", "di", "da", "del", "bin", "ibn", "al", "el"}
# Russian and Kazakh case endings: a name followed by one of these is the same name declined.
CYRILLIC_ENDINGS = {
    "",
    # Russian
    "а", "я", "у", "ю", "ом", "ем", "ём", "ым", "им", "е", "и", "ы", "ой", "ей", "ою", "ого", "его", "ому", "ему",
    "ых", "их", "ами", "ям", "ам", "ах", "ях", "ый", "ий", "й", "ь",
    # Kazakh: genitive, dative, accusative, locative, ablative, instrumental
    "ның", "нің", "дың", "дің", "тың", "тің", "ға", "ге", "қа", "ке", "на", "не", "ны", "ні", "ды", "ді", "ты",
    "ті", "да", "де", "та", "те", "дан", "ден", "тан", "тен", "нан", "нен", "мен", "бен", "пен", "ңа", "ңе",
}  # fmt: skip
_WORD = re.compile(r"[^\W\d_]+")
_JOINER = re.compile(r"[ \t\u00a0]+|[ \t\u00a0]*-[ \t\u00a0]*")


@dataclass
class Word:
    text: str
    start: int
    end: int


def capitalised_runs(text: str) -> list[list[Word]]:
    """Sequences of capitalised words written next to one another on one line."""
    runs: list[list[Word]] = []
    current: list[Word] = []
    pending: list[Word] = []  # particles waiting for the next capitalised word
    previous_end = None
    for match in _WORD.finditer(text):
        word = Word(match.group(0), match.start(), match.end())
        joined = previous_end is not None and _JOINER.fullmatch(text[previous_end : word.start]) is not None
        previous_end = word.end
        if not joined:
            if current:
                runs.append(current)
            current, pending = [], []
        if word.text[0].isupper():
            current += [*pending, word]
            pending = []
        elif current and word.text in PARTICLES:
            pending.append(word)
        else:
            if current:
                runs.append(current)
            current, pending = [], []
    if current:
        runs.append(current)
    return runs


def name_words(name: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(name)]


def is_cyrillic(word: str) -> bool:
    return any("\u0400" <= char <= "\u04ff" for char in word)


def same_word(written: str, known: str) -> bool:
    """Equal, or (in Cyrillic) the same word with a case ending: "султанова" is "султанов"."""
    if written == known:
        return True
    if not (is_cyrillic(written) and is_cyrillic(known)):
        return False
    # A name ending in a vowel or й loses it before some endings: "Андрей" → "Андрея", "Әлия" → "Әлияға".
    stems = [known, known[:-1]] if known[-1] in "аяеьйыі" else [known]
    return any(
        len(stem) >= 3 and written.startswith(stem) and written[len(stem) :] in CYRILLIC_ENDINGS for stem in stems
    )


def same_name(written: list[str], known: list[str]) -> bool:
    """The same words, in any order ("Dostiyarov Dauren" is "Dauren Dostiyarov")."""
    if len(written) != len(known):
        return False
    orders = itertools.permutations(known) if len(known) <= 3 else [known]
    return any(all(same_word(w, k) for w, k in zip(written, order, strict=True)) for order in orders)


def similarity(written: list[str], known: list[str], any_order: bool = True) -> float:
    orders = itertools.permutations(known) if any_order and len(known) <= 3 else [known]
    text = " ".join(written)
    return max(SequenceMatcher(None, text, " ".join(order)).ratio() for order in orders)


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment): a swap of two letters counts as one."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[-1]


def near_word(written: str, known: str) -> bool:
    """One slip in a name of 5 letters or more, two in one of 8 or more."""
    if len(known) < 5 or same_word(written, known):
        return False
    return edit_distance(written, known) <= (2 if len(known) >= 8 else 1)


@dataclass
class KnownName:
    words: list[str]
    display: str  # how the case file writes it


def check_names(texts: Iterable[Text], people: list[tuple[str, list[str]]]) -> list[Finding]:
    """Names written near a name of the case file but not exactly like it."""
    known = [KnownName(name_words(form), form) for name, spellings in people for form in [name, *spellings]]
    known = [name for name in known if name.words]
    if not known:
        return []
    findings: list[Finding] = []
    for text in texts:
        for run in capitalised_runs(text.text):
            findings += [
                misspelt(text.text[run[start].start : run[start + size - 1].end], display, text)
                for start, size, display in near_misses([word.text.lower() for word in run], known)
            ]
    return findings


def near_misses(words: list[str], known: list[KnownName]) -> list[tuple[int, int, str]]:
    """(start, size, known spelling) of each near-miss in a run of capitalised words."""
    sizes = sorted({len(name.words) for name in known}, reverse=True)
    used = [False] * len(words)

    def free_windows():
        return [
            (start, size)
            for size in sizes
            for start in range(len(words) - size + 1)
            if not any(used[start : start + size])
        ]

    def take(start: int, size: int) -> None:
        used[start : start + size] = [True] * size

    # Names written exactly as the case file writes them (or declined) are right.
    for start, size in free_windows():
        window = words[start : start + size]
        if not any(used[start : start + size]) and any(same_name(window, name.words) for name in known):
            take(start, size)
    # Then the closest known name for what is left, best matches first, never overlapping.
    candidates = []
    for start, size in free_windows():
        window = words[start : start + size]
        # Ties go to the spelling in the same word order.
        score, _same_order, best = max(
            (similarity(window, name.words), similarity(window, name.words, any_order=False), name.display)
            for name in known
            if len(name.words) == size
        )
        if score >= NAME_SIMILARITY:
            candidates.append((score, size, start, best))
    found = []
    for _score, size, start, best in sorted(candidates, key=lambda c: (-c[0], -c[1], c[2])):
        if not any(used[start : start + size]):
            take(start, size)
            found.append((start, size, best))
    # A single word close to a word of a known name ("Tottasyn" for "Toktasyn").
    parts = [
        (part, display) for name in known for part, display in zip(name.words, _WORD.findall(name.display), strict=True)
    ]
    for index, word in enumerate(words):
        if used[index] or any(same_word(word, part) for part, _display in parts):
            continue
        best = next((display for part, display in parts if near_word(word, part)), None)
        if best:
            found.append((index, 1, best))
    return sorted(found)


def misspelt(written: str, known: str, text: Text) -> Finding:
    return Finding(
        "name_near_miss",
        BLOCKING,
        _("“%(written)s” looks like a misspelling of “%(known)s”, as the case file writes it."),
        {"written": written, "known": known},
        text.language,
        text.field,
        written,
    )


# Dates -------------------------------------------------------------------------

FRENCH_MONTHS = {
    "janvier": 1, "février": 2, "fevrier": 2, "mars": 3, "avril": 4, "mai": 5, "juin": 6, "juillet": 7,
    "août": 8, "aout": 8, "septembre": 9, "octobre": 10, "novembre": 11, "décembre": 12, "decembre": 12,
}  # fmt: skip
ENGLISH_MONTHS = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12,
}  # fmt: skip
# Russian, in the genitive a date takes ("6 июля").
RUSSIAN_MONTHS = {
    "января": 1, "февраля": 2, "марта": 3, "апреля": 4, "мая": 5, "июня": 6, "июля": 7, "августа": 8,
    "сентября": 9, "октября": 10, "ноября": 11, "декабря": 12,
}  # fmt: skip
MONTHS = {**FRENCH_MONTHS, **ENGLISH_MONTHS, **RUSSIAN_MONTHS}
# Kazakh months take suffixes ("6 шілдеде", "шілдедегі"): matched as the start of a word.
KAZAKH_MONTHS = {
    "қаңтар": 1, "ақпан": 2, "наурыз": 3, "сәуір": 4, "мамыр": 5, "маусым": 6, "шілде": 7, "тамыз": 8,
    "қыркүйек": 9, "қазан": 10, "қараша": 11, "желтоқсан": 12,
}  # fmt: skip


def _alternatives(names: Iterable[str]) -> str:
    return "|".join(sorted(names, key=len, reverse=True))


_MONTH = rf"(?:(?P<month>{_alternatives(MONTHS)})\b|(?P<kk_month>{_alternatives(KAZAKH_MONTHS)})\w*)"
_DAY = r"(?P<day>[0-3]?\d)(?:er|st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:1[89]|2\d)\d\d)"
DATE_PATTERNS = [
    # Kazakh: "2021 жылғы 6 шілдеде"
    re.compile(rf"\b{_YEAR}\s+жыл\w*\s+{_DAY}\s+{_MONTH}", re.IGNORECASE),
    # "6 juillet 2021", "13 July 2021", "6 июля 2021 года", "6 juillet"
    re.compile(rf"\b{_DAY}\.?\s+{_MONTH}(?:,?\s+{_YEAR}\b)?", re.IGNORECASE),
    # "July 13, 2021", "July 13"
    re.compile(rf"\b(?P<month>{_alternatives(ENGLISH_MONTHS)})\s+{_DAY}\b(?:,?\s+{_YEAR}\b)?", re.IGNORECASE),
    # "13.07.2021", "13/07/2021"
    re.compile(rf"\b{_DAY}[./](?P<number_month>[01]?\d)[./]{_YEAR}\b"),
    # "2021-07-13"
    re.compile(rf"\b{_YEAR}-(?P<number_month>[01]\d)-(?P<day>[0-3]\d)\b"),
]


@dataclass
class WrittenDate:
    written: str
    date: datetime.date
    has_year: bool


def dates_in(text: str, today: datetime.date) -> list[WrittenDate]:
    """Dates written in a text; a date without a year is taken in the current year."""
    found: list[WrittenDate] = []
    taken: list[range] = []
    for pattern in DATE_PATTERNS:
        for match in pattern.finditer(text):
            if any(match.start() in span or match.end() - 1 in span for span in taken):
                continue
            parts = match.groupdict()
            if parts.get("number_month"):
                month = int(parts["number_month"])
            elif parts.get("kk_month"):
                month = KAZAKH_MONTHS[parts["kk_month"].lower()]
            else:
                month = MONTHS[parts["month"].lower()]
            year = int(parts["year"]) if parts.get("year") else today.year
            try:
                date = datetime.date(year, month, int(parts["day"]))
            except ValueError:
                continue  # "31 février" is not a date to check
            taken.append(range(match.start(), match.end()))
            found.append(WrittenDate(" ".join(match.group(0).split()), date, bool(parts.get("year"))))
    return found


def check_dates(letters: Iterable[Text], today: datetime.date) -> list[Finding]:
    """Dates that have passed: warnings, since a letter about a repression names the day it happened."""
    findings = []
    for text in letters:
        for written in dates_in(text.text, today):
            if written.date >= today:
                continue
            if written.has_year:
                message = _("“%(date)s” is in the past: check that the letter still says what is happening.")
            else:
                message = _(
                    "“%(date)s” has already passed this year: check that the letter still says what is "
                    "happening, and write the year if it means another one."
                )
            findings.append(
                Finding(
                    "past_date",
                    WARNING,
                    message,
                    {"date": written.written},
                    text.language,
                    text.field,
                    written.date.isoformat(),  # "6 шілдеде" and "6 шілдедегі" are one date
                )
            )
    return findings
