from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.models import Campaign, FollowUp
from courrier.db.fields import EmailDigestField, EncryptedCharField, EncryptedEmailField, EncryptedTextField
from courrier.lib.crypto import email_digest


class SignatureQuerySet(models.QuerySet):
    """The rules of who counts, whose letter goes, who gets news, what may be exported: each written once.

    Every page, export, job and interface asks these; their figures agree because they are the same query.
    """

    def with_address(self, address: str) -> "SignatureQuerySet":
        """The signatures made with this address (any case): compared by keyed digest, never in clear."""
        return self.filter(email_digest=email_digest(address))

    def openable(self) -> "SignatureQuerySet":
        """Those whose links (confirmation, my data) still open: not a second signature, not erased."""
        return self.filter(is_duplicate=False, anonymised_at__isnull=True)

    def first_signatures(self) -> "SignatureQuerySet":
        """Every signature but the repeats of an address (kept only to tell its owner): what was signed."""
        return self.filter(is_duplicate=False)

    def confirmed(self) -> "SignatureQuerySet":
        """Confirmed by their supporter: first signatures only (a second one with the same address never is)."""
        return self.first_signatures().filter(confirmed_at__isnull=False)

    def deliverable(self) -> "SignatureQuerySet":
        """Those whose letter goes to the targets: confirmed, sent with their name by consent, and not held,
        rejected or quarantined by moderation (approved ones go)."""
        return self.confirmed().filter(consent_send=True, moderation__in=Signature.DELIVERED_MODERATION)

    def counted(self) -> "SignatureQuerySet":
        """The public counter: the letters that go (deliverable), no more. A letter held for review counts
        once approved, so the counter, the exports and the progress page say the same number."""
        return self.deliverable()

    def awaiting_letters(self) -> "SignatureQuerySet":
        """Confirmed, and their letters not written yet (held for review included)."""
        return self.confirmed().filter(letters_queued_at__isnull=True)

    def letters_due(self) -> "SignatureQuerySet":
        """Those whose letters the worker writes next: deliverable, not written yet, their data still kept."""
        return self.deliverable().filter(letters_queued_at__isnull=True, anonymised_at__isnull=True)

    def listed_organisations(self) -> "SignatureQuerySet":
        """Counted, with an organisation its supporter agreed to list publicly."""
        return self.counted().filter(consent_list_organisation=True).exclude(organisation="")

    def exportable(self) -> "SignatureQuerySet":
        """What an organiser may export: the letters that go, while their supporters' data is kept."""
        return self.deliverable().filter(anonymised_at__isnull=True)

    def news_recipients(self) -> "SignatureQuerySet":
        """Supporters who asked for the campaign's news and still want it: confirmed, not erased, not
        rejected nor quarantined (a letter held for review does not stop the news). Whether their address
        still takes mail is delivery's to say (news/sending.py)."""
        return (
            self.confirmed()
            .filter(consent_news=True, news_unsubscribed_at__isnull=True, anonymised_at__isnull=True)
            .exclude(moderation__in=[Signature.Moderation.REJECTED, Signature.Moderation.BURST])
        )

    def may_sign_follow_ups(self) -> "SignatureQuerySet":
        """Whose name a follow-up letter may carry: their first letter went (deliverable, written), their data is
        kept."""
        return self.deliverable().filter(anonymised_at__isnull=True, letters_queued_at__isnull=False)


# What says who signed and what they wrote: encrypted at rest, shown on the supporter's data page, erased on
# schedule or on request.
SUPPORTER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "city",
    "country",
    "organisation",
    "organisation_role",
    "personal_sentence",
    "letter_body",
)


class Signature(models.Model):
    """What one supporter entered, written in one INSERT by the signing request.

    Everything after that (the confirmation e-mail, the letters, the public
    tally) is found and done by the delivery worker, so a spike of signatures
    costs one row each and nothing else.
    """

    class Source(models.TextChoices):
        PAGE = "page", _("Campaign page")
        EMBED = "embed", _("Embedded form")
        QR = "qr", _("QR code")
        SHARE = "share", _("Shared link")

        @classmethod
        def from_page_address(cls, value: str) -> str:
            """The source a campaign page's address gives (?src=qr, ?src=share), or "" for any other value:
            the embedded form is set by its own view, never by an address or a form."""
            return value if value in (cls.QR, cls.SHARE) else ""

    class Moderation(models.TextChoices):
        NONE = "none", _("Not held")
        HELD = "held", _("Held for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        # One of a burst from one network: kept, never delivered unless a moderator approves it.
        BURST = "burst", _("Quarantined (burst)")

    # Moderation states whose letters go: never held, or approved by a moderator.
    DELIVERED_MODERATION = (Moderation.NONE, Moderation.APPROVED)

    # Indexed with created_at (Meta.indexes), which also serves every look-up by campaign alone.
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="signatures", db_index=False)
    # What the supporter typed is stored encrypted (courrier/db/fields.py): the database can neither
    # filter nor sort on it. Addresses are found through email_digest.
    first_name = EncryptedCharField(_("first name"), max_length=100)
    last_name = EncryptedCharField(_("last name"), max_length=100)
    email = EncryptedEmailField(_("e-mail address"), max_length=254)
    # The keyed digest of the address, filled on every save: the one-signature-per-address constraint and
    # every look-up by address use it. NULL once the address is erased, so anonymised rows never collide.
    email_digest = EmailDigestField(source="email", max_length=64, null=True, blank=True, editable=False)
    city = EncryptedCharField(_("city"), max_length=100, blank=True)
    country = EncryptedCharField(_("country"), max_length=100, blank=True)
    organisation = EncryptedCharField(_("organisation"), max_length=200, blank=True)
    organisation_role = EncryptedCharField(_("role in the organisation"), max_length=100, blank=True)
    personal_sentence = EncryptedTextField(_("personal sentence"), max_length=600, blank=True)
    # Only when the campaign allows it: the supporter's own version of the whole letter body.
    letter_body = EncryptedTextField(_("letter as edited by the supporter"), max_length=10000, blank=True)
    language = models.CharField(_("page language"), max_length=8, choices=settings.LANGUAGES)
    letter_language = models.CharField(_("letter language"), max_length=8, choices=settings.LANGUAGES)
    consent_send = models.BooleanField(_("agreed to send the letter with their name"), default=False)
    consent_list_organisation = models.BooleanField(_("agreed to list the organisation publicly"), default=False)
    consent_news = models.BooleanField(_("agreed to receive news of the campaign"), default=False)
    # Answers come back through the campaign (delivery/answers.py): the targets see the supporter's own
    # address only if they tick this; and they get the targets' answers forwarded only if they ask.
    consent_reply_direct = models.BooleanField(_("agreed to give the recipients their e-mail address"), default=False)
    wants_answer = models.BooleanField(_("asked to receive the recipients' answers"), default=False)
    # The model letter word for word: no sentence of their own, no edit (set when signing; unknown before).
    is_model_letter = models.BooleanField(_("the model letter word for word"), null=True, editable=False)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.PAGE)
    # Only when the campaign uses a target directory: the ISO code of the country the supporter picked.
    directory_country = EncryptedCharField(_("country picked"), max_length=2, blank=True)
    moderation = models.CharField(_("moderation"), max_length=10, choices=Moderation.choices, default=Moderation.NONE)
    # Encrypted too: a reason quotes what tripped the rule (a link, an address in the sentence).
    moderation_reason = EncryptedCharField(_("why it is held"), max_length=200, blank=True)
    # The names of the rules it tripped ("link,word", "burst"), nothing the supporter wrote: what the audit log
    # keeps of a moderation decision (signatures/moderation.py).
    moderation_rules = models.CharField(_("rules tripped"), max_length=100, blank=True, editable=False)
    news_unsubscribed_at = models.DateTimeField(_("stopped the news"), null=True, blank=True)
    # The proof-of-work solution this signature came with (a digest of it): unique, so a solution
    # replayed is refused by the same INSERT. Empty (NULL) when the browser ran no JavaScript.
    proof_digest = models.CharField(max_length=64, null=True, blank=True, unique=True, editable=False)
    # When the supporter erased their data or the campaign's retention period ended: the row keeps
    # only what the counts need.
    anonymised_at = models.DateTimeField(_("personal data erased"), null=True, blank=True)
    # A second signature with an address that already signed: kept only so the
    # worker can tell the address owner, never delivered, never counted.
    is_duplicate = models.BooleanField(default=False)
    created_at = models.DateTimeField(_("signed on"), auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmation_queued_at = models.DateTimeField(null=True, blank=True)
    letters_queued_at = models.DateTimeField(null=True, blank=True)

    objects = SignatureQuerySet.as_manager()

    class Meta:
        verbose_name = _("signature")
        verbose_name_plural = _("signatures")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "email_digest"],
                condition=Q(is_duplicate=False),
                name="one_signature_per_address",
            )
        ]
        indexes = [
            # One index where there were two (the campaign's, the date's): every signing INSERT writes one
            # index page fewer. It serves look-ups by campaign and the moderation's window of dates in a
            # campaign.
            models.Index(fields=["campaign", "created_at"], name="sig_campaign_created"),
            models.Index(
                fields=["created_at"], condition=Q(confirmation_queued_at__isnull=True), name="sig_confirmation_due"
            ),
            models.Index(
                fields=["confirmed_at"],
                condition=Q(confirmed_at__isnull=False, letters_queued_at__isnull=True),
                name="sig_letters_due",
            ),
            # The retention pass's never-confirmed signatures past their link's age (delivery/retention.py):
            # without it, the pass read the whole table every ten minutes, on SQLite holding the write lock.
            models.Index(fields=["created_at"], condition=Q(confirmed_at__isnull=True), name="sig_unconfirmed"),
            # The exports' rows in the order they are written (signatures/exports.py), which a part of the PDF
            # skips to and the CSV reads through: without it the database sorted the whole campaign each time.
            # Only confirmed signatures enter it, so a signing INSERT does not write to it.
            models.Index(
                fields=["campaign", "created_at", "id"],
                condition=Q(
                    is_duplicate=False,
                    confirmed_at__isnull=False,
                    consent_send=True,
                    moderation__in=["none", "approved"],  # DELIVERED_MODERATION, which Meta cannot name
                    anonymised_at__isnull=True,
                ),
                name="sig_exportable",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} ({self.campaign_id})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class OwnMailboxClick(models.Model):
    """A supporter opened a "send from my own mailbox" link: counted as a click, never as a letter."""

    class Channel(models.TextChoices):
        MAILTO = "mailto", _("Mail app")
        GMAIL = "gmail", "Gmail"
        OUTLOOK = "outlook", "Outlook"
        YAHOO = "yahoo", "Yahoo"
        COPY = "copy", _("Copied by hand")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="own_mailbox_clicks")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    clicked_on = models.DateField(_("day"), auto_now_add=True)

    class Meta:
        verbose_name = _("click to send from one's own mailbox")
        verbose_name_plural = _("clicks to send from one's own mailbox")

    def __str__(self) -> str:
        return f"{self.clicked_on} {self.channel}"


class HeldSignature(Signature):
    """The moderation queue in the back office: signatures whose personal words a rule held for review."""

    class Meta:
        proxy = True
        verbose_name = _("letter held for review")
        verbose_name_plural = _("letters held for review")


class DataRequest(models.Model):
    """Someone typed an address in the public "my data" form: the worker mails that address its links.

    Only the keyed digest of the address and the page's language are kept, and only until the worker's next
    pass: the request thread never looks the address up, so the form answers alike, and as fast, whether the
    address signed or not.
    """

    email_digest = models.CharField(max_length=64, editable=False)
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("request for one's data")
        verbose_name_plural = _("requests for one's data")

    def __str__(self) -> str:
        return f"#{self.pk}"


class FollowUpSignatureQuerySet(models.QuerySet):
    def letters_due(self) -> "FollowUpSignatureQuerySet":
        """Pressed, their letters not written yet, and their supporter may still sign follow-ups (not erased,
        not rejected meanwhile)."""
        return self.filter(
            letters_queued_at__isnull=True,
            cancelled_at__isnull=True,
            signature__in=Signature.objects.may_sign_follow_ups().values("pk"),
        )

    def counted(self) -> "FollowUpSignatureQuerySet":
        """A follow-up's counter: the letters written for it."""
        return self.filter(letters_queued_at__isnull=False)


class FollowUpSignature(models.Model):
    """A supporter pressed "send it in my name" on their link to a follow-up letter: one INSERT, once.

    It holds nothing of theirs: the letter is written by the worker from their signature (its name, city,
    organisation), which they confirmed when they signed. The unique pair makes a second press, or a link
    used twice, send nothing more.
    """

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="signatures")
    signature = models.ForeignKey(Signature, on_delete=models.CASCADE, related_name="follow_ups")
    signed_at = models.DateTimeField(_("sent on"), auto_now_add=True)
    letters_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    # The campaign was closed with its letters not sent yet cancelled before the worker wrote this one.
    cancelled_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = FollowUpSignatureQuerySet.as_manager()

    class Meta:
        verbose_name = _("follow-up letter sent by a supporter")
        verbose_name_plural = _("follow-up letters sent by supporters")
        constraints = [models.UniqueConstraint(fields=["follow_up", "signature"], name="one_follow_up_per_signature")]
        indexes = [
            models.Index(
                fields=["signed_at"], condition=Q(letters_queued_at__isnull=True), name="follow_up_letters_due"
            )
        ]

    def __str__(self) -> str:
        return f"{self.follow_up_id}: #{self.signature_id}"
