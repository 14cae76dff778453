"""The targets' answers: mail to the Reply-To of a supporter's letter, brought back to the campaign.

A letter's Reply-To is the campaign's relay address for it (delivery/verp.py, reply_address), unless its
supporter agreed to give the targets their own address. `manage.py ingestbounces` hands what comes back to
that address to `record_answer`, which:

- finds the letter through the signed address (a forged or unknown one is ignored);
- keeps the answer once per Message-ID, encrypted, with its files within ANSWER_ATTACHMENTS_MAX_BYTES;
- tells automatic answers apart (out of office, read receipts: bounces.is_automatic);
- matches the sender with the letter's recipients: an answer from anybody else is held for an organiser;
- passes a target's own answer on to the supporter if they asked for it, through the outbox, From the
  platform, never letting the target see the supporter's address.
"""

import datetime
import email
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass
from email.message import EmailMessage

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone
from django.utils.html import strip_tags

from courrier.accounts import audit
from courrier.campaigns.models import Campaign, Target
from courrier.delivery import emails
from courrier.delivery.bounces import decoded_subject, is_automatic
from courrier.delivery.messages import supporter_message
from courrier.delivery.models import Answer, AnswerAttachment, OutboxMessage
from courrier.lib.headers import header_text
from courrier.signatures.models import Signature
from courrier.signatures.tokens import my_data_url

# Past this, the rest of an answer's text is cut (a quoted thread can be long).
MAX_TEXT = 50_000
# Bounds, so that a reply address that leaked (or a target that writes back a thousand times) cannot fill the
# database or the supporters' mailboxes: answers kept per reply address and per target, files per answer, and
# answers passed on to one supporter from one target.
MAX_ANSWERS_PER_ADDRESS = 50
MAX_ANSWERS_PER_TARGET = 2000
MAX_FILES = 10
PASSED_ON_PER_TARGET = 2


def record_answer(raw: bytes, signature_pk: int) -> Answer | None:
    """Record what came to the Reply-To of `signature_pk`'s letter; None if there is no such letter (or past the
    bounds). Reading the same message again records nothing more and returns the answer already kept.
    """
    signature = Signature.objects.select_related("campaign").filter(pk=signature_pk).first()
    # Every letter of theirs (the campaign's, its follow-ups'): they all give the same reply address.
    letters = list(OutboxMessage.objects.filter(signature_id=signature_pk, kind=OutboxMessage.Kind.LETTER))
    if signature is None or not letters:
        return None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    target = recipient_target(letters, trusted_sender(message))
    answer = keep(raw, message, signature.campaign, signature, target, f"r{signature_pk}")
    if answer is not None and answer.forwarded_id is None and signature.wants_answer and answer.in_person:
        if signature.anonymised_at is None and passed_on_count(signature, answer.target) < PASSED_ON_PER_TARGET:
            pass_on(answer, signature)
    return answer


def record_hand_over_answer(raw: bytes, target_pk: int) -> Answer | None:
    """Record what came to the Reply-To of a campaign's final hand-over to this target (delivery/hand_over.py)."""
    target = Target.objects.select_related("campaign").filter(pk=target_pk).first()
    if target is None or not OutboxMessage.objects.filter(kind=OutboxMessage.Kind.HAND_OVER, targets=target).exists():
        return None
    message = email.message_from_bytes(raw, policy=email.policy.default)
    by_target = trusted_sender(message).lower() == target.email.lower()
    return keep(raw, message, target.campaign, None, target if by_target else None, f"h{target_pk}")


def sender_of(message: EmailMessage) -> str:
    return email.utils.parseaddr(str(message.get("From", "")))[1].strip()


def trusted_sender(message: EmailMessage) -> str:
    """The From address to match with the letter's recipients; "" when our own MTA found it forged, so that the
    answer is held as a stranger's."""
    return "" if looks_forged(message) else sender_of(message)


_RESULT = re.compile(r"(?<![\w.])(dmarc|dkim|spf)\s*=\s*([a-z]+)", re.IGNORECASE)


def looks_forged(message: EmailMessage) -> bool:
    """Whether the Authentication-Results our inbound MTA wrote (INBOUND_AUTHSERV_ID) say the From is forged:
    DMARC failed, or DKIM or SPF failed with none of the three passing. Those of any other server count for
    nothing: anyone can write them (RFC 8601 has the MTA remove any that name it before adding its own)."""
    authserv = settings.INBOUND_AUTHSERV_ID.strip().lower()
    if not authserv:
        return False
    results: dict[str, set[str]] = {}
    for header in message.get_all("Authentication-Results", []):
        value = str(header)
        words = value.split(";", 1)[0].split()
        if not words or words[0].lower() != authserv:
            continue
        for method, result in _RESULT.findall(value):
            results.setdefault(method.lower(), set()).add(result.lower())
    if "fail" in results.get("dmarc", set()):
        return True
    passed = any("pass" in results.get(method, set()) for method in ("dmarc", "dkim", "spf"))
    failed = "fail" in results.get("dkim", set()) or results.get("spf", set()) & {"fail", "softfail"}
    return bool(failed) and not passed


def passed_on_count(signature: Signature, target: Target) -> int:
    return Answer.objects.filter(signature=signature, target=target, forwarded__isnull=False).count()


def keep(raw: bytes, message: EmailMessage, campaign, signature, target, address_key: str) -> Answer | None:
    """The answer kept once per Message-ID and reply address, with its files; the target's rule followed on its
    first answer. Once the supporter's (or the campaign's) data is erased, only that an answer came is kept."""
    # An answer without a Message-ID is known by its bytes, so that reading it again records nothing more.
    message_id = header_text(str(message.get("Message-ID", "")), 300) or f"<sha256:{hashlib.sha256(raw).hexdigest()}>"
    kept = Answer.objects.filter(message_id=message_id, address_key=address_key).first()
    if kept is not None:
        return kept
    came_to = Answer.objects.filter(address_key=address_key)
    if came_to.count() >= MAX_ANSWERS_PER_ADDRESS or (
        target is not None and Answer.objects.filter(target=target).count() >= MAX_ANSWERS_PER_TARGET
    ):
        return None
    erased = campaign.anonymised_at is not None or (signature is not None and signature.anonymised_at is not None)
    answer = Answer(
        campaign=campaign,
        signature=signature,
        target=target,
        message_id=message_id,
        address_key=address_key,
        sender="" if erased else sender_of(message)[:254],
        subject="" if erased else decoded_subject(message)[:300],
        body="" if erased else text_of(message)[:MAX_TEXT],
        automatic=is_automatic(message),
    )
    try:
        with transaction.atomic():
            answer.save()
            if not erased:
                keep_attachments(answer, message)
    except IntegrityError:  # the same answer, read at the same moment by another run
        return Answer.objects.filter(message_id=message_id, address_key=address_key).first()
    if answer.in_person:
        follow_the_targets_rule(answer)
    return answer


def follow_the_targets_rule(answer: Answer) -> None:
    """The target's first answer written by a person changes what its organisers chose (Target.on_answer)."""
    target = answer.target
    if target.on_answer == Target.OnAnswer.KEEP:
        return
    if Answer.objects.from_targets().filter(target=target).exclude(pk=answer.pk).exists():
        return  # only the first answer changes anything: the organisers may have set it back since
    if target.on_answer == Target.OnAnswer.SLOW:
        target.pace_per_hour = max(1, target.pace_per_hour // 4)
        summary = f"{target}: answered, its pace slowed to {target.pace_per_hour} letters per hour"
    else:
        target.delivery_mode = Target.Mode.DIGEST
        summary = f"{target}: answered, its next letters go in its digest"
    target.save(update_fields=["pace_per_hour", "delivery_mode"])
    audit.record(None, audit.TARGET_CHANGE, target, summary=summary)


def recipient_target(letters: list[OutboxMessage], sender: str) -> Target | None:
    """The target whose address wrote the answer, among those the supporter's letters went to; None for anybody
    else (the answer is then held)."""
    sent_to = {address.lower() for letter in letters for address in [*letter.to, *letter.cc]}
    if not sender or sender.lower() not in sent_to:
        return None
    campaign_id = letters[0].campaign_id
    return Target.objects.filter(campaign_id=campaign_id, email__iexact=sender).order_by("-active", "pk").first()


def text_of(message: EmailMessage) -> str:
    """The answer's text: its plain part, or its HTML part as text."""
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: the bytes as well as they decode
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return strip_tags(text) if part.get_content_subtype() == "html" else text


def keep_attachments(answer: Answer, message: EmailMessage) -> None:
    room = settings.ANSWER_ATTACHMENTS_MAX_BYTES
    for part in list(message.iter_attachments())[:MAX_FILES]:
        content = part.get_payload(decode=True) or b""
        fits = len(content) <= room
        room -= len(content) if fits else 0
        AnswerAttachment.objects.create(
            answer=answer,
            filename=header_text(part.get_filename() or "", 200),
            content_type=part.get_content_type()[:100],
            size=len(content),
            content=content if fits else None,
        )


def pass_on(answer: Answer, signature: Signature) -> OutboxMessage:
    """The target's answer, to the supporter who asked for it: From the platform, the original quoted."""
    quoted = "\n".join("> " + line for line in answer.body.strip().splitlines())
    subject, body = emails.answer(
        signature.language,
        signature.campaign,
        signature.first_name,
        answer.target.name,
        answer.subject,
        timezone.localtime(answer.received_at),
        quoted,
        my_data_url(signature, signature.language),
    )
    forwarded = supporter_message(OutboxMessage.Kind.ANSWER, signature, subject, body)
    OutboxMessage.objects.queue([forwarded], timezone.now())
    Answer.objects.filter(pk=answer.pk).update(forwarded=forwarded)
    return forwarded


# What organisers see and publish (the studio's answers page; the public page shows what is published).

PUBLISHED_MAX = 2000


@dataclass
class TargetAnswers:
    target: Target
    answers: int
    automatic: int
    first_at: datetime.datetime | None


def answers_per_target(campaign: Campaign) -> list[TargetAnswers]:
    """For each target of the campaign: its answers written by a person, its automatic ones, its first answer."""
    rows = (
        Answer.objects.filter(campaign=campaign, target__isnull=False)
        .order_by()
        .values("target_id", "automatic")
        .annotate(count=Count("pk"), first=Min("received_at"))
    )
    by_target: dict[int, dict] = {}
    for row in rows:
        figures = by_target.setdefault(row["target_id"], {"answers": 0, "automatic": 0, "first_at": None})
        figures["automatic" if row["automatic"] else "answers"] += row["count"]
        if not row["automatic"]:
            figures["first_at"] = row["first"]
    # The active targets, and any other that answered (a directory's entry, a target since withdrawn).
    shown = campaign.targets.filter(Q(active=True) | Q(pk__in=list(by_target))).order_by("-role", "pk")
    return [
        TargetAnswers(target, **by_target.get(target.pk, {"answers": 0, "automatic": 0, "first_at": None}))
        for target in shown
    ]


def answered_targets(campaign: Campaign) -> int:
    """How many of the campaign's targets answered in person (the public page says so)."""
    return Answer.objects.from_targets().filter(campaign=campaign).values("target_id").distinct().count()


# Where a mail program starts quoting the message answered: the supporter's letter, not to be published.
_QUOTE_STARTS = re.compile(
    r"^(>|-{2,}\s*(Original Message|Message d'origine|Исходное сообщение)|On .{0,200} wrote:\s*$|"
    r"Le .{0,200} a écrit\s*:\s*$|.{0,200} пишет:\s*$|From:\s|De\s*:\s|От:\s)",
    re.IGNORECASE,
)


def suggested_excerpt(answer: Answer) -> str:
    """What the studio offers to publish: the answer's own words, without the quoted letter, the supporter's
    name or the relay address (the organisers read it and choose; nothing is published unasked)."""
    lines = []
    for line in answer.body.splitlines():
        if _QUOTE_STARTS.match(line.strip()):
            break
        lines.append(line)
    text = "\n".join(lines).strip()
    signature = answer.signature
    for personal in [signature.full_name, signature.email] if signature is not None else []:
        if personal.strip():
            text = text.replace(personal, "…")
    text = re.sub(r"\S+@\S+", "…", text)
    return text[:PUBLISHED_MAX]


def publish(answer: Answer, text: str, user) -> None:
    """Show this excerpt of a target's answer on the campaign page (an empty text withdraws it)."""
    if not answer.in_person:
        raise ValueError("only a target's own answer is published")
    text = text.strip()[:PUBLISHED_MAX]
    answer.published_text, answer.published_at = text, (timezone.now() if text else None)
    answer.save(update_fields=["published_text", "published_at"])
    what = "published" if text else "withdrawn"
    audit.record(user, audit.ANSWER_PUBLISHED, answer.campaign, summary=f"answer of {answer.target}: {what}")
