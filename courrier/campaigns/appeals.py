"""A campaign from a published call: the organiser pastes an appeal, Courrier drafts the campaign from it.

Appeals are written for people, not for software: a title, a few paragraphs
of story, "send a letter to this address, with a copy to that one", and the
letter itself, quoted between « » or starting at "Monsieur l'Ambassadeur".
`read_appeal` finds those parts as a reader would, and `create_draft` writes
them as a draft that nobody receives until the organiser publishes it:

- the title (the first short line), the story (what comes before the
  letter), a summary (its first paragraph);
- the model letter, with what belonged to its first signatory turned into
  placeholders: the place-and-date line, the "For …" signature, and room
  for the supporter's own sentence;
- every e-mail address, as the address to send to, or to copy (the text
  says "copie", "copy", "cc"), named as the text names it;
- the people named in a list ("X, Y and Z were arrested") or more than
  once, each once: other spellings close to a name ("Yrbsek Tottasyn" for
  "Yrysbek Toktasyn") are the same person, and the letter checker flags
  them as the slips they are, not as other people.

Nothing here is sure; everything is shown to the organiser to review.
"""

import collections
import itertools
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from django.db import transaction
from django.utils.text import slugify

from courrier.accounts import audit
from courrier.campaigns.letter_checker import (
    NAME_SIMILARITY,
    capitalised_runs,
    name_words,
    same_name,
    similarity,
)
from courrier.campaigns.models import Campaign, ModelLetter, Person, Target
from courrier.lib.headers import header_text

# Longer than any appeal a volunteer pastes (the founding one is 5,000 characters): a bound, not a rule.
MAX_APPEAL_CHARACTERS = 50_000
TITLE_MAX, SUMMARY_MAX, CAPTION_MAX, NAME_MAX, EMAIL_MAX = 200, 600, 300, 200, 254
# More people than a case file holds: a pasted list of signatories is not the people a campaign defends, and
# comparing thousands of names with each other would hold the request for minutes.
MAX_PEOPLE = 30
# A quotation this long, in paragraphs, is a letter; shorter ones are words quoted in the story (« nassés »).
LETTER_MIN_CHARACTERS = 300

QUOTES = {"«": "»", "“": "”"}
# Bounded as RFC 5321 bounds them (a local part of 64 characters, labels of 63), and starting where a word
# starts: unbounded, a long run of letters with no "@" cost quadratic time (60,000 letters took 12 seconds).
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
# How letters to officials open, in the four languages.
_SALUTATION = re.compile(
    r"^\s*(Monsieur|Madame|Mesdames|Messieurs|Excellence|Votre Excellence|Dear|To the|Your Excellency|Excellency|"
    r"Уважаем\w*|Господин\w*|Ваше превосходительство|Құрметті)\b",
    re.IGNORECASE | re.MULTILINE,
)
_COPY = re.compile(r"\b(copie|copy|cc|copies|копи\w*|көшірме\w*)\b", re.IGNORECASE)
# "copie à Red Yurt :", "copy to Red Yurt:", "копию – Red Yurt:"
_COPY_NAME = re.compile(
    r"\b(?:copie|copy|cc|копи\w*|көшірме\w*)(?:\s+[^\s:]+){0,2}?\s+(?:à|au|aux|to|для)\s+(?P<name>[^:：\n]{2,80}?)\s*[:：]?\s*$",
    re.IGNORECASE,
)
# The institution a call asks to write to: "l'Ambassade du Kazakhstan en France".
_INSTITUTION = re.compile(
    r"\b(?P<name>(?:Ambassade|Embassy|Consulat|Consulate|Ministère|Ministry|Présidence|Office of|"
    r"Посольств\w*|Консульств\w*|Министерств\w*|Елшілі\w*)[^.,;:!?\n()«»“”]{0,80})",
    re.IGNORECASE,
)
# "Paris, le 13 juillet 2021", "London, 13 July 2021", "Almaty, July 13, 2021", "Париж, 13 июля 2021 г."
_PLACE_AND_DATE = re.compile(
    r"^\s*[^\W\d_][^\W\d_ '’-]*(?:[ '’-][^\W\d_]+){0,3},\s*(?:le\s+)?"
    r"(?:\d{1,2}(?:er|st|nd|rd|th)?\.?\s+[^\W\d_]+\.?|[^\W\d_]+\.?\s+\d{1,2}(?:st|nd|rd|th)?,?)\s+\d{4}"
    r"(?:\s*(?:г\.|ж\.|года|жыл\w*))?\s*$",
    re.IGNORECASE,
)
# The first signatory's sign-off: "Pour la Gauche révolutionnaire", "On behalf of …", "От имени …".
_SIGNED_FOR = re.compile(r"^\s*(Pour|Au nom d[eu]|For|On behalf of|От имени|За)\s+\S.{0,150}$", re.IGNORECASE)
# Words that separate the names of a list: "X, Y et Z".
_LIST_JOINERS = {",", "et", "and", "и", "және", "ainsi que", "as well as", "а также", "мен"}
_DEMAND = re.compile(
    r"\b(exige\w*|demande\w*|appelle\w*|proteste\w*|condamne\w*|demands?|calls?|urges?|condemns?|protests?|"
    r"требу\w+|призыва\w+|осужда\w+|талап\w*)\b",
    re.IGNORECASE,
)
_KAZAKH_LETTERS = set("әғқңөұүһі")


@dataclass
class Address:
    email: str
    role: str  # Target.Role
    name: str


@dataclass
class NamedPerson:
    name: str  # the spelling the text uses first
    variants: list[str] = field(default_factory=list)  # other spellings the text uses, slips included


@dataclass
class AppealDraft:
    language: str
    title: str
    summary: str
    article: str
    letter_subject: str
    letter_body: str
    caption: str = ""
    addresses: list[Address] = field(default_factory=list)
    people: list[NamedPerson] = field(default_factory=list)

    @property
    def found_letter(self) -> bool:
        return bool(self.letter_body.strip())


def read_appeal(text: str) -> AppealDraft:
    """The parts of a pasted appeal, as well as they can be told apart."""
    text = normalised(text)[:MAX_APPEAL_CHARACTERS]
    title, rest = split_title(text)
    before, letter, after = split_letter(rest)
    article = before.strip()
    language = guess_language(text)
    addresses = find_addresses(rest)
    # The names of the targets are not people to defend ("Red Yurt").
    target_names = [address.name for address in addresses]
    return AppealDraft(
        language=language,
        title=title,
        summary=first_paragraph(article or letter, SUMMARY_MAX),
        article=article,
        letter_subject=header_text(title, TITLE_MAX),
        letter_body=with_placeholders(letter) if letter else "",
        caption=" ".join(after.split())[:CAPTION_MAX],
        addresses=addresses,
        people=find_people(rest, exclude=target_names),
    )


def normalised(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u202f", " ")
    return "\n".join(line.rstrip() for line in text.split("\n")).strip()


def split_title(text: str) -> tuple[str, str]:
    """The first line when it reads as a title (short, no final full stop), and the rest."""
    first, _newline, rest = text.partition("\n")
    first = first.strip()
    if first and len(first) <= TITLE_MAX and not first.endswith((".", ":")) and not _EMAIL.search(first):
        return first, rest
    return " ".join(first_paragraph(text, TITLE_MAX).split()), text


def split_letter(text: str) -> tuple[str, str, str]:
    """(what comes before the letter, the letter, what comes after it). The letter is the longest quotation
    that holds paragraphs; without one, everything from the first salutation line on."""
    quotation = longest_quotation(text)
    if quotation is not None:
        start, end = quotation
        return text[:start], text[start + 1 : end].strip(), text[end + 1 :].strip()
    salutation = _SALUTATION.search(text)
    if salutation is not None:
        return text[: salutation.start()], text[salutation.start() :].strip(), ""
    return text, "", ""


def longest_quotation(text: str) -> tuple[int, int] | None:
    """(opening, closing) positions of the longest outermost « … » or “ … ” that holds a letter."""
    best: tuple[int, int] | None = None
    stack: list[tuple[str, int]] = []
    for position, char in enumerate(text):
        if char in QUOTES:
            stack.append((char, position))
        elif stack and char == QUOTES[stack[-1][0]]:
            _opening, start = stack.pop()
            if stack:
                continue  # a quotation inside the letter (« nassés »)
            inner = text[start + 1 : position]
            if len(inner) >= LETTER_MIN_CHARACTERS and "\n" in inner.strip():
                if best is None or position - start > best[1] - best[0]:
                    best = (start, position)
    return best


def first_paragraph(text: str, limit: int) -> str:
    paragraph = next((p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()), "")
    paragraph = " ".join(paragraph.split())
    if len(paragraph) <= limit:
        return paragraph
    cut = paragraph[:limit]
    sentence_end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: sentence_end + 1] if sentence_end > limit // 3 else cut[: limit - 1].rsplit(" ", 1)[0] + "…"


def guess_language(text: str) -> str:
    lowered = text.lower()
    cyrillic = sum(1 for char in lowered if "\u0400" <= char <= "\u04ff")
    latin = sum(1 for char in lowered if "a" <= char <= "z")
    if cyrillic > latin:
        return "kk" if sum(1 for char in lowered if char in _KAZAKH_LETTERS) * 200 > cyrillic else "ru"
    words = re.findall(r"[^\W\d_]+", lowered)
    french = sum(word in {"le", "la", "les", "des", "et", "est", "une", "nous", "vous", "du"} for word in words)
    english = sum(word in {"the", "and", "is", "of", "we", "you", "to", "are", "our"} for word in words)
    return "fr" if french >= english else "en"


def with_placeholders(letter: str) -> str:
    """The letter with its first signatory's own lines turned into placeholders."""
    lines = letter.split("\n")
    if lines and _SALUTATION.match(lines[0]) and not lines[0].rstrip().endswith((",", ":", "!")):
        lines[0] = lines[0].rstrip() + ","
    found = {"place_and_date": False, "signature": False}
    signed_for = ""
    for number, line in enumerate(lines):
        if not found["place_and_date"] and _PLACE_AND_DATE.match(line):
            lines[number] = "{place_and_date}"
            found["place_and_date"] = True
        elif (signed := _SIGNED_FOR.match(line)) and number >= len(lines) - 4:
            lines[number] = "{signature}"
            found["signature"] = True
            signed_for = line[signed.end(1) :].strip()
    body = "\n".join(lines).strip()
    if signed_for:
        body = with_signatory(body, signed_for)
    if not found["signature"]:
        body += "\n\n{signature}"
    # The supporter's own sentence goes before the place and date, or before the signature.
    anchor = "{place_and_date}" if found["place_and_date"] else "{signature}"
    body = body.replace(anchor, "{personal_sentence}\n\n" + anchor, 1)
    return re.sub(r"\n{3,}", "\n\n", body) + "\n"


def with_signatory(body: str, organisation: str) -> str:
    """The paragraph where the first signatory speaks of itself ("La Gauche révolutionnaire, section …,
    exige que …") made the supporter's: "{signatory} exige que …"."""
    name = re.sub(r"^(?:la|le|les|l['’]|the)\s*", "", organisation.strip(" ."), flags=re.IGNORECASE)
    if len(name) < 3:
        return body
    start = re.compile(r"(^|\n\n)(?:(?:la|le|les|l['’]|the)\s*)?" + re.escape(name), re.IGNORECASE)
    match = start.search(body)
    if match is None:
        return body
    head_start = match.start() + len(match.group(1))
    sentence_end = body.find(".", match.end())
    sentence_end = len(body) if sentence_end < 0 else sentence_end
    # The subject runs to the last comma before what it demands ("…, partie prenante de …, exige que").
    demand = _DEMAND.search(body, match.end(), sentence_end)
    comma = body.rfind(",", match.end(), demand.start()) if demand else -1
    if comma >= 0:
        return body[:head_start] + "{signatory} " + body[comma + 1 :].lstrip()
    return body[:head_start] + "{signatory}" + body[match.end() :]


def find_addresses(text: str) -> list[Address]:
    addresses: list[Address] = []
    seen: set[str] = set()
    paragraphs = re.split(r"\n\s*\n", text)
    for index, paragraph in enumerate(paragraphs):
        previous_end = 0
        for match in _EMAIL.finditer(paragraph):
            email = match.group(0).rstrip(".")
            if len(email) > EMAIL_MAX:
                continue  # not an address a mail server takes (RFC 5321: 254 characters at most)
            # What the text says of this address: from the previous address (or the paragraph's start) to it.
            context = " ".join(paragraph[previous_end : match.start()].split())
            previous_end = match.end()
            if email.lower() in seen:
                continue
            seen.add(email.lower())
            if _COPY.search(context):
                named = _COPY_NAME.search(context)
                name = named.group("name") if named else ""
                addresses.append(Address(email, Target.Role.CC, (clean_name(name) or email)[:NAME_MAX]))
            else:
                # The institution is named before its address, in its paragraph or the one before.
                around = "\n".join([*paragraphs[max(0, index - 1) : index], context])
                institution = _INSTITUTION.search(around)
                name = clean_name(institution.group("name")) if institution else ""
                addresses.append(Address(email, Target.Role.TO, (name or email)[:NAME_MAX]))
    return addresses


_TRAILING_WORDS = re.compile(
    r"(\s+(at|à|au|to|by e-?mail|par e-?mail|par courriel|по адресу|адресі|:))+$", re.IGNORECASE
)


def clean_name(name: str) -> str:
    name = _TRAILING_WORDS.sub("", " ".join(name.split())).strip(" -–:·")
    return (name[:1].upper() + name[1:])[:NAME_MAX]


def find_people(text: str, exclude: list[str]) -> list[NamedPerson]:
    """The people the text names in a list, or names more than once; spellings close to a name join it."""
    excluded = {word for name in exclude for word in name_words(name)}
    # A capitalised word also written in lower case ("La", "Gauche" of "militants de gauche") is not a name.
    common = {word for word in re.findall(r"[^\W\d_]+", text) if word.islower()}
    names = [
        " ".join(word.text for word in run)
        for run in capitalised_runs(text)
        if 2 <= len(run) <= 4 and all(len(word.text) > 1 for word in run)
    ]
    listed = listed_names(text, capitalised_runs(text))
    counts = collections.Counter(names)
    people: list[NamedPerson] = []
    # Each distinct spelling once, in the order the text first uses it.
    for name in dict.fromkeys(names):
        words = name_words(name)
        if set(words) & excluded or any(is_spelling_of(words, name_words(p.name)) for p in people):
            continue
        if name in listed or (counts[name] >= 2 and not set(words) & common):
            people.append(NamedPerson(name))
            if len(people) == MAX_PEOPLE:
                break
    for name in dict.fromkeys(names):
        person = next((p for p in people if is_spelling_of(name_words(name), name_words(p.name))), None)
        # A declined name ("Валихана Султанова") is the name itself; a slip ("Valikha Sultanov") is a variant.
        if person is not None and not same_name(name_words(name), name_words(person.name)):
            if name not in person.variants:
                person.variants.append(name)
    return people


def listed_names(text: str, runs: list) -> set[str]:
    """Names written in a list of two or more: "Valikhan Sultanov, Yrysbek Toktasyn et Dostiyarov Dauren"."""
    listed: set[str] = set()
    for previous, current in itertools.pairwise(runs):
        if len(previous) < 2 or len(current) < 2:
            continue
        gap = " ".join(text[previous[-1].end : current[0].start].split()).strip()
        if gap in _LIST_JOINERS or gap.lstrip(", ").strip() in _LIST_JOINERS:
            listed.add(" ".join(word.text for word in previous))
            listed.add(" ".join(word.text for word in current))
    return listed


def is_spelling_of(written: list[str], known: list[str]) -> bool:
    if len(written) != len(known):
        return False
    if same_name(written, known):
        return True
    a, b = " ".join(written), " ".join(known)
    # Cheap bounds first: the ratio is at most what the two lengths allow, and at most what the letters in
    # common allow whatever their order (so for every order of the words). Most pairs stop here.
    if 2 * min(len(a), len(b)) / (len(a) + len(b)) < NAME_SIMILARITY:
        return False
    if SequenceMatcher(None, a, b).quick_ratio() < NAME_SIMILARITY:
        return False
    return similarity(written, known) >= NAME_SIMILARITY


@transaction.atomic
def create_draft(draft: AppealDraft, organisation, user) -> Campaign:
    """The draft campaign, in sandbox mode: nobody receives anything until an organiser publishes it."""
    campaign = Campaign.objects.create(
        organisation=organisation,
        slug=available_slug(draft.title),
        language=draft.language,
        title=draft.title[:TITLE_MAX] or "—",
        summary=draft.summary or draft.title,
        article=draft.article,
        photo_caption=draft.caption,
        status=Campaign.Status.DRAFT,
        real_delivery=False,
    )
    if draft.found_letter:
        ModelLetter.objects.create(
            campaign=campaign, language=draft.language, subject=draft.letter_subject, body=draft.letter_body
        )
    Target.objects.bulk_create(
        Target(campaign=campaign, role=address.role, name=address.name, email=address.email)
        for address in draft.addresses
    )
    Person.objects.bulk_create(
        Person(campaign=campaign, name=person.name[:NAME_MAX], position=position)
        for position, person in enumerate(draft.people)
    )
    # Where its letters would go is part of the entry: recipients are audited wherever they are set.
    recipients = ", ".join(f"{address.email} ({address.role})" for address in draft.addresses)
    audit.record(user, audit.DRAFT_FROM_CALL, campaign, summary=f"{campaign.slug}: {recipients}")
    return campaign


def available_slug(title: str) -> str:
    """The title's slug (Latin letters only, for an address anyone can type), numbered if taken."""
    base = slugify(title)[:60].strip("-") or "campaign"
    taken = set(Campaign.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate
