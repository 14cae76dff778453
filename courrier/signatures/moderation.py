"""Moderation: a supporter's own words held for an organiser's review when a rule trips.

Signing stays one INSERT: the rules run in the worker, at the moment a
confirmed signature's letter would be queued (delivery.enqueue.queue_letters).
What they read is what the supporter wrote themselves: the personal sentence,
the organisation and role they sign for (published on the campaign page once
the letter goes), and, when the campaign lets supporters edit the whole letter,
the lines of their version that are not in a model letter. A signature with
none of these is never held.

The rules:
- a link: an address with http(s):// or www., a bare domain such as example.ru, an e-mail address;
- a word or phrase from one of the campaign's lists (signatures.BlockedWords, one per language).
  Every list of the campaign applies to every signature, whatever its language: a
  supporter can write in another language than the page's, and the lists exist per
  language so that each translator keeps their own;
- a personal sentence longer than settings.MODERATION_MAX_SENTENCE characters;
- the same sentence (compared case-folded, spaces collapsed) in REPEATS signatures of
  the campaign within REPEAT_WINDOW: the first ones go, the REPEATS-th and later are held.
  Sentences shorter than REPEAT_MIN_LENGTH are left out of this rule: short slogans
  ("Free them!", "Бостандық!") are written by many genuine supporters alike.

A tripped rule marks the signature held, with the reason (which may quote the
supporter: it is encrypted, and erased with the signature) and the names of the
rules (moderation_rules: what the audit log keeps of a decision, never the
words), and queues nothing:
neither the letter nor the supporter's copy. An organiser who manages the
campaign then approves it, and the worker queues its letter on its next pass
(an approved signature is due like a newly confirmed one, and no rule runs on
it again), or rejects it: its letter is never sent and it is not counted.
The supporter is not told either way: their confirmation page says the letter
is queued, which is true while it waits, and a rejected supporter gets no
e-mail, so the platform never argues with a troll in writing.

Signatures quarantined as part of a burst from one network (Moderation.BURST,
set by the signing request itself: courrier/lib/bursts.py) join the same queue
once confirmed, and are approved or rejected the same way.
"""

import bisect
import datetime
import re
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import translation
from django.utils.translation import get_language_info, gettext_lazy
from django.utils.translation import gettext as _

from courrier.accounts import audit
from courrier.campaigns.models import BlockedWords
from courrier.lib import bursts
from courrier.signatures import tallies
from courrier.signatures.models import Signature

Moderation = Signature.Moderation

REPEATS = 3
REPEAT_WINDOW = datetime.timedelta(hours=24)
REPEAT_MIN_LENGTH = 20
REASON_MAX = Signature._meta.get_field("moderation_reason").max_length

# Top-level domains written in Cyrillic: a bare "сайт.рф" is a link too.
_CYRILLIC_TLDS = "рф|қаз|бел|укр|рус|срб|мкд|мон|орг|ком|сайт|онлайн"
LINK = re.compile(
    r"(?:https?://|www\.)\S+"  # an address with its scheme, or starting with www.
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # an e-mail address
    # A bare domain: labels and a top-level domain in lower or upper case, so that "example.ru" and
    # "EXAMPLE.RU" are links but a missing space after a full stop ("Almaty.The") is not.
    rf"|(?<![\w@.])(?:[\w-]+\.)+(?:[a-z]{{2,24}}|[A-Z]{{2,24}}|{_CYRILLIC_TLDS})(?![\w-])"
)


def normalised(text: str) -> str:
    """Case folded, every run of spaces and line breaks made one space."""
    return " ".join(text.casefold().split())


# The rules, by the name the audit log records (Signature.moderation_rules).
LINK_RULE, WORD_RULE, LENGTH_RULE, REPEAT_RULE, BURST_RULE = "link", "word", "length", "repeat", bursts.RULE
RULE_NAMES = {
    LINK_RULE: gettext_lazy("a link"),
    WORD_RULE: gettext_lazy("a word from the campaign's lists"),
    LENGTH_RULE: gettext_lazy("a long sentence"),
    REPEAT_RULE: gettext_lazy("a sentence repeated in many signatures"),
    BURST_RULE: gettext_lazy("a burst of signatures from one network"),
}


def rule_names(rules: str) -> str:
    """The rules a held signature tripped, named (in the active language), without anything it said."""
    return ", ".join(str(RULE_NAMES.get(rule, rule)) for rule in rules.split(",") if rule)


def own_words(signature: Signature, model_bodies: list[str]) -> str:
    """What the supporter wrote themselves: the sentence, the organisation and role they sign for (listed on
    the page), and the lines of their letter not in a model letter."""
    parts = [signature.personal_sentence, signature.organisation, signature.organisation_role]
    if signature.letter_body:
        model_lines = {normalised(line) for body in model_bodies for line in body.splitlines()}
        parts += [line for line in signature.letter_body.splitlines() if normalised(line) not in model_lines]
    return "\n".join(part for part in parts if part.strip())


def needs_review(signature: Signature) -> bool:
    """Only what nobody has judged yet, and only if the supporter wrote something of their own."""
    return signature.moderation == Moderation.NONE and bool(
        signature.personal_sentence.strip()
        or signature.letter_body.strip()
        or signature.organisation.strip()
        or signature.organisation_role.strip()
    )


def word_pattern(phrase: str) -> re.Pattern:
    """The phrase as a whole word (or words), anywhere in a normalised text."""
    return re.compile(r"(?<!\w)" + re.escape(normalised(phrase)) + r"(?!\w)")


def reasons_for(
    signature: Signature, words: list[tuple[str, str]], repeats: int, model_bodies: list[str]
) -> dict[str, str]:
    """Why this signature is held: {rule: reason in the active language}, empty if no rule trips.

    words: (phrase, language) pairs from the campaign's lists; repeats: how many
    signatures of the campaign, this one included, carried the same sentence in
    the window before it.
    """
    text = own_words(signature, model_bodies)
    if not text:
        return {}
    reasons = {}
    link = LINK.search(text)
    if link:
        reasons[LINK_RULE] = _("a link: %(link)s") % {"link": link.group(0)[:60]}
    folded = normalised(text)
    for phrase, language in words:
        if word_pattern(phrase).search(folded):
            name = get_language_info(language)["name_translated"]
            reasons[WORD_RULE] = _("a word from the %(language)s list: %(word)s") % {"language": name, "word": phrase}
            break
    if len(signature.personal_sentence) > settings.MODERATION_MAX_SENTENCE:
        reasons[LENGTH_RULE] = _("a sentence of %(length)d characters (more than %(max)d)") % {
            "length": len(signature.personal_sentence),
            "max": settings.MODERATION_MAX_SENTENCE,
        }
    if repeats >= REPEATS:
        reasons[REPEAT_RULE] = _("the same sentence in %(count)d signatures within 24 hours") % {"count": repeats}
    return reasons


def reason_for(signature: Signature, words: list[tuple[str, str]], repeats: int, model_bodies: list[str]) -> str:
    """Why this signature is held, as one text (in the active language), or "" if no rule trips."""
    return "; ".join(reasons_for(signature, words, repeats, model_bodies).values())[:REASON_MAX]


def campaign_words(campaign_ids: set[int]) -> dict[int, list[tuple[str, str]]]:
    words: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for entry in BlockedWords.objects.filter(campaign_id__in=campaign_ids):
        words[entry.campaign_id] += [(word, entry.language) for word in entry.word_list()]
    return words


def repeat_counts(signatures: list[Signature]) -> dict[int, int]:
    """For each signature with a sentence: how many signatures of its campaign carried the same one
    (normalised) in the REPEAT_WINDOW up to it, itself included.

    One query per campaign of the batch, reading only the sentences of that window; the
    comparison is done here because a database cannot case-fold Cyrillic or Kazakh alike.
    """
    counts: dict[int, int] = {}
    by_campaign: dict[int, list[Signature]] = defaultdict(list)
    for signature in signatures:
        if len(normalised(signature.personal_sentence)) >= REPEAT_MIN_LENGTH:
            by_campaign[signature.campaign_id].append(signature)
    for campaign_id, checked in by_campaign.items():
        earliest = min(s.created_at for s in checked) - REPEAT_WINDOW
        latest = max(s.created_at for s in checked)
        rows = (
            Signature.objects.filter(
                campaign_id=campaign_id, is_duplicate=False, created_at__gte=earliest, created_at__lte=latest
            )
            .exclude(personal_sentence="")
            .values_list("personal_sentence", "created_at", "pk")
        )
        arrivals: dict[str, list[tuple[datetime.datetime, int]]] = defaultdict(list)
        for sentence, created_at, pk in rows.iterator():
            arrivals[normalised(sentence)].append((created_at, pk))
        for times in arrivals.values():
            times.sort()
        for signature in checked:
            times = arrivals[normalised(signature.personal_sentence)]
            upto = bisect.bisect_right(times, (signature.created_at, signature.pk))
            since = bisect.bisect_left(times, (signature.created_at - REPEAT_WINDOW, 0))
            counts[signature.pk] = upto - since
    return counts


def screen(signatures: list[Signature]) -> dict[int, dict[str, str]]:
    """The signatures of a batch that must be held, with their reasons by rule (in the site's language).

    Called by the worker before it writes the batch's letters (on SQLite, outside the transaction that
    writes them: delivery/enqueue.py); the caller marks them held. No query at all when nobody wrote
    anything of their own.
    """
    candidates = [s for s in signatures if needs_review(s)]
    if not candidates:
        return {}
    words = campaign_words({s.campaign_id for s in candidates})
    repeats = repeat_counts(candidates)
    held = {}
    with translation.override(settings.LANGUAGE_CODE):
        for signature in candidates:
            model_bodies = [letter.body for letter in signature.campaign.letters.all()] if signature.letter_body else []
            reasons = reasons_for(signature, words[signature.campaign_id], repeats.get(signature.pk, 0), model_bodies)
            if reasons:
                held[signature.pk] = reasons
    return held


def hold(signatures: list[Signature], reasons: dict[int, dict[str, str]]) -> None:
    """Mark these signatures held, each with its reasons and the rules' names (one UPDATE for the batch)."""
    marked = []
    for signature in signatures:
        if signature.pk in reasons:
            signature.moderation = Moderation.HELD
            signature.moderation_reason = "; ".join(reasons[signature.pk].values())[:REASON_MAX]
            signature.moderation_rules = ",".join(reasons[signature.pk])
            marked.append(signature)
    Signature.objects.bulk_update(marked, ["moderation", "moderation_reason", "moderation_rules"])


# ---------- The organiser's decisions ----------

# What waits for a decision: held by a rule, or quarantined as one of a burst.
AWAITING = (Moderation.HELD, Moderation.BURST)


def held_by(rule: str) -> Q:
    """The signatures one of whose rules is `rule` (moderation_rules holds them comma-separated)."""
    return (
        Q(moderation_rules=rule)
        | Q(moderation_rules__startswith=rule + ",")
        | Q(moderation_rules__endswith="," + rule)
        | Q(moderation_rules__contains="," + rule + ",")
    )


def awaiting_decision() -> Q:
    """The moderation queue: held by a rule, or quarantined in a burst and confirmed.

    Unconfirmed quarantined signatures stay out of it: they may be a robot's made-up
    addresses, which are never confirmed (and are deleted after a week).
    """
    return Q(moderation=Moderation.HELD) | Q(moderation=Moderation.BURST, confirmed_at__isnull=False)


def _decide(user, signatures: QuerySet, decision: str, verb: str) -> int:
    """Move the held or quarantined signatures among `signatures` to `decision`, each move in the audit log."""
    with transaction.atomic():
        chosen = list(
            Signature.objects.filter(pk__in=list(signatures.values_list("pk", flat=True)), moderation__in=AWAITING)
            .select_related("campaign")
            .select_for_update(of=("self",))
        )
        Signature.objects.filter(pk__in=[s.pk for s in chosen], moderation__in=AWAITING).update(moderation=decision)
        # An approved letter counts, however old its signature: the counter's settled part is counted again.
        tallies.forget_settled({s.campaign_id for s in chosen})
        with translation.override(settings.LANGUAGE_CODE):
            for signature in chosen:
                # The rule, never the reason: the reason may quote the supporter, and the log outlives erasure.
                rules = rule_names(signature.moderation_rules) or signature.get_moderation_display()
                audit.record(
                    user,
                    audit.MODERATION,
                    signature,
                    organisation=signature.campaign.organisation_id,
                    summary=f"{verb} #{signature.pk} ({signature.campaign.slug}): {rules}",
                )
    return len(chosen)


def approve(user, signatures: QuerySet) -> int:
    """Let held letters go. Their letters_queued_at is still empty, so the worker queues them on its next
    pass like a newly confirmed signature's; approved, they are not screened again."""
    return _decide(user, signatures, Moderation.APPROVED, "approved")


def reject(user, signatures: QuerySet) -> int:
    """Never send these held letters, nor count them."""
    return _decide(user, signatures, Moderation.REJECTED, "rejected")
