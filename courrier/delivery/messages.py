"""One constructor per kind of outgoing message: confirmation and already-signed notice, letter and the
supporter's copy, digest entry, digest, staff alert, test letter, data link (news: news/sending.py).

Each returns unsaved OutboxMessage rows; queueing them is the outbox's (OutboxQuerySet.queue).
"""

import datetime
import io
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from fpdf import FPDF

from courrier.campaigns.letters import Signer, render_bilingual_letter, render_letter, versions_for_targets
from courrier.campaigns.models import Campaign, FollowUp, Target
from courrier.delivery import emails, messages
from courrier.delivery.addressees import letter_recipients
from courrier.delivery.models import DigestEntry, OutboxMessage
from courrier.delivery.verp import reply_address
from courrier.lib.crypto import email_digest
from courrier.lib.headers import header_text
from courrier.lib.typefaces import DEJAVU_SANS
from courrier.signatures.models import Signature
from courrier.signatures.tokens import confirmation_token, my_data_request_url, my_data_token, my_data_url


def new_message_id(sender: str) -> str:
    return f"<{uuid.uuid4().hex}@{sender.rsplit('@', 1)[1]}>"


def is_sandboxed(campaign: Campaign) -> bool:
    """Real mail needs both an operator (SMTP configured) and staff (campaign switched to real)."""
    return not (settings.EMAIL_HOST and campaign.real_delivery)


def supporter_message(kind: str, signature: Signature, subject: str, body: str) -> OutboxMessage:
    sender = settings.SENDER_EMAIL
    return OutboxMessage(
        kind=kind,
        campaign=signature.campaign,
        signature=signature,
        message_id=new_message_id(sender),
        sandbox=is_sandboxed(signature.campaign),
        from_name=settings.SITE_NAME,
        from_email=sender,
        envelope_from=sender,
        to=[signature.email],
        subject=subject,
        body=body,
        auto_submitted=True,
        recipient_digest=email_digest(signature.email),
    )


def absolute_url(path: str) -> str:
    return settings.SITE_ROOT + path


def recipients_phrase(campaign: Campaign, language: str, signature: Signature | None = None) -> str:
    """Who receives the letter, for the supporter's e-mails: with a directory, the entry of their country."""
    to_targets, cc_targets = letter_recipients(signature) if signature is not None else campaign.recipients()
    with translation.override(language):
        names = ", ".join(t.name for t in to_targets)
        if cc_targets:
            return _("%(to)s, with a copy to %(cc)s") % {"to": names, "cc": ", ".join(t.name for t in cc_targets)}
        return names


def confirmation_message(signature: Signature) -> OutboxMessage:
    """The confirmation request of a new signature, or the "already signed" notice of a repeat address."""
    return Confirmations().message(signature)


def already_signed_message(signature: Signature) -> OutboxMessage:
    campaign = signature.campaign
    with translation.override(signature.language):
        subject, body = emails.already_signed(
            signature.language,
            campaign,
            absolute_url(campaign.get_absolute_url()),
            duplicate_data_url(signature),
        )
    return supporter_message(OutboxMessage.Kind.ALREADY_SIGNED, signature, subject, body)


class Confirmations:
    """The confirmation requests of a batch of signatures: the text rendered once for each campaign, language
    and directory country, each supporter's copy differing by its two links (tests/test_fast_paths.py checks
    that a batch gets the messages each would get alone). An "already signed" notice is made on its own, as
    it is rare."""

    _SLOT = "SLOT"

    def __init__(self):
        self.markers = {name: f"{name}-{uuid.uuid4().hex}" for name in ("confirm", "data")}
        self.texts: dict[tuple[int, str, str], tuple[str, str]] = {}
        self.paths: dict[tuple[str, str], str] = {}

    def message(self, signature: Signature) -> OutboxMessage:
        if signature.is_duplicate:
            return already_signed_message(signature)
        campaign, language = signature.campaign, signature.language
        # The text depends on the supporter only through who receives the letter: their directory country.
        key = (campaign.pk, language, signature.directory_country if campaign.use_directory else "")
        if key not in self.texts:
            recipients = recipients_phrase(campaign, language, signature)
            markers = self.markers
            self.texts[key] = emails.confirmation(language, campaign, markers["confirm"], recipients, markers["data"])
        subject, body = self.texts[key]
        links = {
            self.markers["confirm"]: self.url("confirm", language, confirmation_token(signature.pk)),
            self.markers["data"]: (
                self.url("my_data", language, my_data_token(signature))
                if signature.created_at is not None
                else my_data_url(signature, language)
            ),
        }
        for marker, link in links.items():
            body = body.replace(marker, link)
        return supporter_message(OutboxMessage.Kind.CONFIRMATION, signature, subject, body)

    def url(self, view: str, language: str, token: str) -> str:
        """The view's absolute address for this token, in `language`: reversed once per view and language."""
        if (view, language) not in self.paths:
            with translation.override(language):
                self.paths[view, language] = reverse(view, args=[self._SLOT])
        return absolute_url(self.paths[view, language].replace(self._SLOT, token))


def duplicate_data_url(duplicate: Signature) -> str:
    """For the "already signed" notice: the link to the first signature of the address, which the notice's
    reader owns; the public form when there is none left (erased meanwhile)."""
    digest = getattr(duplicate, "email_digest", None)
    original = (
        Signature.objects.openable()
        .filter(campaign_id=duplicate.campaign_id, email_digest=digest)
        .only("created_at")  # all the link needs: nothing personal decrypted
        .first()
        if digest
        else None
    )
    if original is None:
        return my_data_request_url(duplicate.language)
    return my_data_url(original, duplicate.language)


def signer_of(signature: Signature) -> Signer:
    return Signer(
        first_name=signature.first_name,
        last_name=signature.last_name,
        organisation=signature.organisation,
        organisation_role=signature.organisation_role,
        city=signature.city,
        personal_sentence=signature.personal_sentence,
        signed_on=timezone.localdate(signature.confirmed_at),
    )


def pacing_key(targets: list[Target]) -> str:
    # (A preview's directory target may be unsaved: its key is never stored.)
    return "-".join(str(t.pk) for t in sorted(targets, key=lambda t: t.pk or 0))


@dataclass
class LetterSource:
    """What a supporter's letter is made of: the campaign's own letter with what they wrote, or a follow-up's
    letter with their name alone (the sentence they wrote was for the first letter, not this one)."""

    model: object  # a ModelLetter or a FollowUpLetter: language, subject, body
    versions: list  # the models in every language, for bilingual letters
    signer: Signer
    edited_body: str
    follow_up: FollowUp | None
    is_model_letter: bool | None


def letter_source(signature: Signature, follow_up: FollowUp | None = None) -> LetterSource:
    signer = signer_of(signature)
    if follow_up is None:
        campaign = signature.campaign
        model = campaign.letter_for(signature.letter_language)
        return LetterSource(
            model, campaign.letters.all(), signer, signature.letter_body, None, signature.is_model_letter
        )
    signer.personal_sentence = ""
    return LetterSource(
        follow_up.letter_for(signature.letter_language), follow_up.letters.all(), signer, "", follow_up, True
    )


def takes_one_by_one(target: Target, source: LetterSource) -> bool:
    """Whether this letter goes to the target on its own: its mode, whether it takes the model letter word for
    word only in its digest, and its cap of letters one by one, where the batch counted what it already had
    (delivery/enqueue.py, count_capped) and counts this one."""
    if target.delivery_mode != Target.Mode.EACH:
        return False
    if target.model_letters_in_digest and source.is_model_letter:
        return False
    left = getattr(target, "one_by_one_left", None)
    if left is None:
        return True
    target.one_by_one_left = left - 1
    return left > 0


def letter_messages(
    signature: Signature, follow_up: FollowUp | None = None
) -> tuple[list[OutboxMessage], list[Target]]:
    """The letter to the targets that take one e-mail per letter, and the supporter's copy: the campaign's own
    letter, or `follow_up`'s.

    Targets in digest mode get this signature in their next digest instead.
    Returns the messages and the targets of the letter (none when every target takes digests).
    """
    campaign = signature.campaign
    source = letter_source(signature, follow_up)
    model, signer = source.model, source.signer
    to_targets, cc_targets = letter_recipients(signature)
    each = [t for t in [*to_targets, *cc_targets] if takes_one_by_one(t, source)]
    subject, body = render_letter(model, signer, source.edited_body)
    messages = []
    if each:
        sender = settings.LETTERS_SENDER_EMAIL
        with translation.override(model.language):
            from_name = _("%(name)s via %(site)s") % {"name": signature.full_name, "site": settings.SITE_NAME}
        addressees = [t for t in each if t.role == Target.Role.TO] or each
        to = [t.email for t in addressees]
        if campaign.bilingual_letters:
            # The To and Cc targets share one message, so its languages follow the addressees (the To
            # targets, such as an embassy): the copies go to the campaign's allies, who can read the
            # supporter's version. The supporter's copy below shows the letter exactly as sent.
            versions = versions_for_targets(source.versions, model.language, [t.language for t in addressees])
            subject, body = render_bilingual_letter(model, signer, source.edited_body, versions)
        letter = OutboxMessage(
            kind=OutboxMessage.Kind.LETTER,
            campaign=campaign,
            signature=signature,
            follow_up=follow_up,
            message_id=new_message_id(sender),
            sandbox=is_sandboxed(campaign),
            from_name=from_name,
            from_email=sender,
            envelope_from=settings.BOUNCE_EMAIL,
            to=to,
            cc=[t.email for t in each if t.email not in to],
            reply_to=signature.email if signature.consent_reply_direct else reply_address(signature.pk or 0),
            reply_to_name=signature.full_name,
            subject=subject,
            body=body,
            pacing_key=pacing_key(each),
            status=OutboxMessage.Status.HELD if any(t.is_paused for t in each) else OutboxMessage.Status.QUEUED,
        )
        messages.append(letter)
    copy_subject, copy_body = emails.letter_copy(
        signature.language,
        campaign,
        signature.first_name,
        recipients_phrase(campaign, signature.language, signature),
        subject,
        body,
        my_data_url(signature, signature.language),
    )
    copy = supporter_message(OutboxMessage.Kind.COPY, signature, copy_subject, copy_body)
    copy.follow_up = follow_up
    messages.append(copy)
    return messages, each


def digest_entries(
    signature: Signature, now: datetime.datetime, one_by_one: list[Target], follow_up: FollowUp | None = None
) -> list[DigestEntry]:
    """One entry for each of this letter's own recipients that does not get it on its own (`one_by_one`, from
    letter_messages): a target in digest mode, or one past its cap (see DigestEntry)."""
    to_targets, cc_targets = letter_recipients(signature)
    sent = {id(t) for t in one_by_one}
    digest_targets = [t for t in [*to_targets, *cc_targets] if id(t) not in sent]
    source = letter_source(signature, follow_up)
    return [digest_entry(signature, source, target, now) for target in digest_targets]


def digest_entry(signature: Signature, source: LetterSource, target: Target, now: datetime.datetime) -> DigestEntry:
    """The supporter's letter as this digest target receives it: their version in their letter's language,
    followed, for bilingual letters, by the model letter in the target's own language."""
    campaign = signature.campaign
    model, signer = source.model, source.signer
    if campaign.bilingual_letters:
        versions = versions_for_targets(source.versions, model.language, [target.language])
        subject, body = render_bilingual_letter(model, signer, source.edited_body, versions)
    else:
        subject, body = render_letter(model, signer, source.edited_body)
    listing = {name: getattr(signer, name) for name in DIGEST_LISTING}
    return DigestEntry(
        target=target,
        signature=signature,
        follow_up=source.follow_up,
        queued_at=now,
        listing={**listing, "edited": bool(source.edited_body)},
        subject=subject,
        body=body,
    )


# What a digest lists of each signer (DigestEntry.listing), and whether they rewrote the model letter.
DIGEST_LISTING = ("full_name", "organisation", "organisation_role", "city", "personal_sentence")


def digest_language(target: Target) -> str:
    available = {letter.language for letter in target.campaign.letters.all()}
    return target.language if target.language in available else target.campaign.language


def digest_message(
    target: Target, entries: list[DigestEntry], now: datetime.datetime, follow_up: FollowUp | None = None
) -> OutboxMessage:
    """The digest of these entries, all of one letter: the campaign's own, or `follow_up`'s."""
    campaign = target.campaign
    language = digest_language(target)
    letter = follow_up.letter_for(language) if follow_up is not None else campaign.letter_for(language)
    with translation.override(language):
        subject = ngettext("%(count)s letter: %(subject)s", "%(count)s letters: %(subject)s", len(entries)) % {
            "count": len(entries),
            "subject": letter.subject,
        }
        body = render_to_string(
            "emails/digest-body-text.txt",
            {
                "target": target,
                "campaign": campaign,
                "entries": [entry.listing for entry in entries],
                "site_name": settings.SITE_NAME,
                "letter": shown_letter(entries),
            },
        )
        pdf = digest_pdf(campaign.title, entries)
        filename = f"letters-{campaign.slug}-{formats.date_format(now, 'Y-m-d')}.pdf"
    return target_mail(OutboxMessage.Kind.DIGEST, target, subject, body, filename, pdf, now, follow_up=follow_up)


def target_mail(
    kind: str, target: Target, subject: str, body: str, filename: str, pdf: bytes, now: datetime.datetime, **extra
) -> OutboxMessage:
    """A message of the campaign itself to one target, with the letters in a PDF: a digest, the hand-over."""
    sender = settings.LETTERS_SENDER_EMAIL
    return OutboxMessage(
        kind=kind,
        campaign=target.campaign,
        message_id=new_message_id(sender),
        sandbox=is_sandboxed(target.campaign),
        from_name=settings.SITE_NAME,
        from_email=sender,
        envelope_from=settings.BOUNCE_EMAIL,
        to=[target.email],
        subject=header_text(subject, 250),
        body=body.strip() + "\n",
        attachment_name=filename,
        attachment=pdf,
        created_at=now,
        next_attempt_at=now,
        **extra,
    )


def shown_letter(entries: list[DigestEntry]) -> str:
    """The letter quoted in the digest's text: the first one its writer did not rewrite (each is in the PDF)."""
    return next((entry.body for entry in entries if not entry.listing.get("edited")), entries[0].body)


def digest_pdf(title: str, entries: list[DigestEntry]) -> bytes:
    """Every letter of the digest as its supporter sent it, one after the other, in a PDF that prints
    Cyrillic and Kazakh."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font("DejaVu", fname=str(DEJAVU_SANS))
    pdf.set_title(title)
    for entry in entries:
        pdf.add_page()
        pdf.set_font("DejaVu", size=12)
        pdf.multi_cell(0, 7, entry.subject, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
        pdf.set_font("DejaVu", size=10)
        pdf.multi_cell(0, 5, entry.body, new_x="LMARGIN", new_y="NEXT")
    output = io.BytesIO()
    pdf.output(output)
    return output.getvalue()


def data_link_message(signature: Signature, language: str) -> OutboxMessage:
    campaign = signature.campaign
    subject, body = emails.data_link(
        language,
        campaign.text_for(language).title,
        my_data_url(signature, language),
        settings.MY_DATA_LINK_MAX_AGE_DAYS,
    )
    return messages.supporter_message(OutboxMessage.Kind.DATA_LINK, signature, subject, body)


TEST_SUBJECT_PREFIX = "[TEST] "


def test_letter(letter: OutboxMessage, address: str, now: datetime.datetime) -> OutboxMessage:
    """A letter as its target would receive it, To the organiser alone (never the targets, never the
    copies), its subject marked [TEST]: the back office's "send a test to my own address"."""
    letter.pk = None
    letter.kind = OutboxMessage.Kind.TEST
    letter.signature = None
    letter.to = [address]
    letter.cc = []
    letter.subject = (TEST_SUBJECT_PREFIX + letter.subject)[:300]
    letter.pacing_key = ""
    letter.status = OutboxMessage.Status.QUEUED
    letter.created_at = letter.next_attempt_at = now
    return letter


def platform_message(kind: str, to: str, subject: str, body: str, now: datetime.datetime, **fields) -> OutboxMessage:
    """A message of the platform itself, tied to no campaign (to staff, to someone invited): From the site,
    to one address, sandboxed while the site has no mail server."""
    sender = settings.SENDER_EMAIL
    return OutboxMessage(
        kind=kind,
        message_id=new_message_id(sender),
        sandbox=not settings.EMAIL_HOST,
        from_name=settings.SITE_NAME,
        from_email=sender,
        envelope_from=sender,
        to=[to],
        subject=subject,
        body=body,
        auto_submitted=True,
        created_at=now,
        next_attempt_at=now,
        **fields,
    )


def staff_alert(subject: str, body: str, now: datetime.datetime) -> OutboxMessage:
    """A message to STAFF_ALERT_EMAIL (delivery/alerts.py decides when)."""
    subject = header_text(f"[{settings.SITE_NAME}] {subject}", 250)
    return platform_message(OutboxMessage.Kind.STAFF_ALERT, settings.STAFF_ALERT_EMAIL, subject, body, now)


def invitation_message(email: str, subject: str, body: str, now: datetime.datetime) -> OutboxMessage:
    """An invitation to a team (accounts/invitations.py), to the address invited alone."""
    return platform_message(
        OutboxMessage.Kind.INVITATION, email, subject, body, now, recipient_digest=email_digest(email)
    )
