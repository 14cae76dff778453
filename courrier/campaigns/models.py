import datetime
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from courrier.accounts.models import Organisation
from courrier.db.fields import EncryptedJSONField
from courrier.lib.markdown import render_markdown
from courrier.lib.origins import is_embed_origin

# How many organisations a campaign's page lists (in the order they first signed); it says when there are more.
LISTED_ORGANISATIONS = 200


class CampaignQuerySet(models.QuerySet):
    def public(self) -> "CampaignQuerySet":
        """The campaigns with a public page: live, paused (the page, without the form) or closed."""
        return self.filter(status__in=Campaign.PUBLIC_STATUSES)


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        LIVE = "live", _("Live")
        PAUSED = "paused", _("Paused")
        CLOSED = "closed", _("Closed")
        ARCHIVED = "archived", _("Archived")

    PUBLIC_STATUSES = (Status.LIVE, Status.PAUSED, Status.CLOSED)

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, verbose_name=_("organisation"))
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    language = models.CharField(_("original language"), max_length=8, choices=settings.LANGUAGES, default="fr")
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), max_length=600)
    article = models.TextField(_("article (Markdown)"), blank=True)
    photo = models.ImageField(
        _("photo"),
        upload_to="campaigns/",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp"])],
    )
    photo_static = models.CharField(
        _("bundled photo"),
        max_length=200,
        blank=True,
        help_text=_("Path of an image shipped with the site, used when no photo is uploaded."),
    )
    photo_alt = models.CharField(_("photo description for screen readers"), max_length=300, blank=True)
    photo_caption = models.CharField(_("photo caption"), max_length=300, blank=True)
    photo_credit = models.CharField(_("photo credit"), max_length=200, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    closing_message = models.TextField(
        _("closing message"), blank=True, help_text=_("Shown on the page once the campaign is closed.")
    )
    use_directory = models.BooleanField(
        _("supporters pick their country"),
        default=False,
        help_text=_("The letter then goes to the directory entry of that country, instead of the To targets."),
    )
    goal = models.PositiveIntegerField(
        _("goal (letters)"), null=True, blank=True, help_text=_("Optional: shown next to the counter.")
    )
    allow_letter_editing = models.BooleanField(
        _("supporters may edit the whole letter"),
        default=False,
        help_text=_("Off: supporters only add a personal sentence to the model letter."),
    )
    bilingual_letters = models.BooleanField(
        _("bilingual letters"),
        default=False,
        help_text=_(
            "When a target has its own language, its letter is the supporter's version followed by the "
            "model letter in the target's language."
        ),
    )
    embed_origins = models.TextField(
        _("websites allowed to embed the form"),
        blank=True,
        help_text=_("One origin per line, for example https://www.example.org. Empty: the form cannot be embedded."),
    )
    real_delivery = models.BooleanField(
        _("send real mail"),
        default=False,
        help_text=_(
            "Off: every message of this campaign goes to the sandbox mailbox. On: messages are sent "
            "through the configured SMTP server, if there is one."
        ),
    )
    anonymise_after_days = models.PositiveIntegerField(
        _("erase supporters' data after (days)"),
        default=183,
        help_text=_(
            "Days after the campaign closes when every supporter's personal data is erased; only the counts stay."
        ),
    )
    ends_at = models.DateTimeField(
        _("closes by itself on"),
        null=True,
        blank=True,
        help_text=_(
            "Optional. Then the campaign closes, and the recipients marked for it receive the final hand-over: "
            "the count, the organisations that signed and the PDF of every letter."
        ),
    )
    hand_over_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    anonymised_at = models.DateTimeField(_("supporters' data erased"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    # Written by the delivery worker in batches, never by the signing request:
    # one hot counter row updated per signature is what brought petition sites down.
    tally_letters = models.PositiveIntegerField(default=0, editable=False)
    # The first organisations listed publicly (one more than LISTED_ORGANISATIONS, when there are more): shown
    # on the page, yet supporters' data, so encrypted at rest too; bounded, since every load of the row reads it.
    tally_organisations = EncryptedJSONField(default=list, editable=False, blank=True)
    tally_updated_at = models.DateTimeField(null=True, editable=False)
    # The counter's settled part (signatures/tallies.py): the letters counted among signatures made before
    # tally_settled_until, which can no longer change on their own; None when it must be counted again in full.
    tally_settled = models.PositiveIntegerField(default=0, editable=False)
    tally_settled_until = models.DateTimeField(null=True, editable=False)
    tally_recounted_at = models.DateTimeField(null=True, editable=False)
    # Raised by every change to old signatures (a moderation decision, a deletion): a recount that began
    # before it does not keep its settled part.
    tally_version = models.PositiveIntegerField(default=0, editable=False)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("campaign", args=[self.slug])

    @property
    def is_open(self) -> bool:
        """Whether it takes signatures."""
        return self.status == self.Status.LIVE

    @property
    def is_public(self) -> bool:
        return self.status in self.PUBLIC_STATUSES

    def organisations_shown(self) -> list[str]:
        """The organisations the page lists: the first LISTED_ORGANISATIONS that signed."""
        return self.tally_organisations[:LISTED_ORGANISATIONS]

    def more_organisations(self) -> bool:
        """Whether more organisations signed than the page lists."""
        return len(self.tally_organisations) > LISTED_ORGANISATIONS

    def article_html(self) -> str:
        return render_markdown(self.article)

    def text_for(self, language: str) -> "CampaignText":
        """The page text in a language, or the original when there is no such version."""
        for text in self.texts.all():
            if text.language == language:
                return text
        return self.original_text()

    def original_text(self) -> "CampaignText":
        return CampaignText(
            campaign=self,
            language=self.language,
            title=self.title,
            summary=self.summary,
            article=self.article,
            photo_alt=self.photo_alt,
            photo_caption=self.photo_caption,
            photo_credit=self.photo_credit,
        )

    def clean(self) -> None:
        wrong = [origin for origin in self.allowed_embed_origins() if not is_embed_origin(origin)]
        if wrong:
            message = _(
                "Write each website as its origin only, one per line: https://www.example.org, with no path "
                "(http:// only for localhost or 127.0.0.1). Not valid: %(origins)s"
            )
            raise ValidationError({"embed_origins": message % {"origins": ", ".join(wrong)}})

    def allowed_embed_origins(self) -> list[str]:
        return [line.strip().rstrip("/") for line in self.embed_origins.splitlines() if line.strip()]

    def photo_url(self) -> str:
        if self.photo:
            return self.photo.url
        if self.photo_static:
            return static(self.photo_static)
        return ""

    def letter_for(self, language: str) -> "ModelLetter | None":
        letters = {letter.language: letter for letter in self.letters.all()}
        return letters.get(language) or letters.get(self.language) or next(iter(letters.values()), None)

    def letter_languages(self) -> list[str]:
        """The languages of the model letters, the original language first."""
        return sorted((letter.language for letter in self.letters.all()), key=lambda code: code != self.language)

    def editable_letters(self) -> dict[str, str] | None:
        """The model letters' bodies by language if supporters may edit the whole letter, else None."""
        if not self.allow_letter_editing:
            return None
        return {letter.language: letter.body for letter in self.letters.all()}

    def recipients(self) -> tuple[list["Target"], list["Target"]]:
        # .all() and a filter in Python, so that a prefetch by the worker serves every signature of a batch.
        targets = [t for t in self.targets.all() if t.active]
        return (
            [t for t in targets if t.role == Target.Role.TO],
            [t for t in targets if t.role == Target.Role.CC],
        )


class Target(models.Model):
    """A recipient of the letters, with how fast and in what form it receives them."""

    class Role(models.TextChoices):
        TO = "to", _("To")
        CC = "cc", _("Copy (Cc)")

    class Mode(models.TextChoices):
        EACH = "each", _("One e-mail per letter")
        DIGEST = "digest", _("One digest e-mail per period, with every letter in a PDF")

    class OnAnswer(models.TextChoices):
        KEEP = "keep", _("Keep sending as before")
        SLOW = "slow", _("Slow down to a quarter of the pace")
        DIGEST = "digest", _("Stop sending one by one: the letters written from then on go in its digest")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="targets")
    role = models.CharField(_("role"), max_length=2, choices=Role.choices, default=Role.TO)
    name = models.CharField(_("name"), max_length=200)
    email = models.EmailField(_("e-mail address"))
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, blank=True)
    active = models.BooleanField(_("active"), default=True)

    delivery_mode = models.CharField(_("delivery mode"), max_length=10, choices=Mode.choices, default=Mode.EACH)
    digest_period_hours = models.PositiveIntegerField(
        _("digest period (hours)"), default=24, validators=[MinValueValidator(1), MaxValueValidator(24 * 31)]
    )
    pace_per_hour = models.PositiveIntegerField(
        _("letters per hour at most"),
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(3600)],
        help_text=_("Letters are spread evenly: 30 an hour means one every two minutes."),
    )
    letters_cap = models.PositiveIntegerField(
        _("letters one by one, at most"),
        null=True,
        blank=True,
        help_text=_("Past this many, its letters go only in its digest. Empty: no limit."),
    )
    model_letters_in_digest = models.BooleanField(
        _("model letters in its digest"),
        default=False,
        help_text=_(
            "Letters that are the model letter word for word go in its digest; those with the supporter's own "
            "words still go one by one."
        ),
    )
    hand_over = models.BooleanField(
        _("receives the final hand-over"),
        default=False,
        help_text=_("When the campaign reaches its end date: the count, the organisations and every letter."),
    )
    # What the target's first answer written by a person changes (delivery/answers.py).
    on_answer = models.CharField(_("when it answers"), max_length=10, choices=OnAnswer.choices, default=OnAnswer.KEEP)
    office_hours_only = models.BooleanField(_("only during office hours"), default=False)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Paris")
    office_opens = models.PositiveSmallIntegerField(
        _("office opens (hour)"), default=9, validators=[MaxValueValidator(23)]
    )
    office_closes = models.PositiveSmallIntegerField(
        _("office closes (hour)"), default=18, validators=[MaxValueValidator(24)]
    )
    paused_at = models.DateTimeField(_("paused since"), null=True, blank=True, editable=False)
    pause_reason = models.CharField(_("why it is paused"), max_length=300, blank=True, editable=False)

    # Worker bookkeeping: the earliest time the next letter may go (pacing), and when the last digest went
    # (what a digest lists is the target's pending DigestEntry rows, written with each letter).
    next_send_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_digest_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["role", "id"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def clean(self) -> None:
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValidationError({"timezone": _("Unknown time zone, for example Europe/Paris.")}) from None
        if self.office_opens >= self.office_closes:
            raise ValidationError({"office_closes": _("The office must close after it opens.")})

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    @property
    def domain(self) -> str:
        return self.email.rsplit("@", 1)[-1].lower()

    def is_open_at(self, moment: datetime.datetime) -> bool:
        """Whether a letter may arrive now: always, or Monday to Friday within office hours."""
        if not self.office_hours_only:
            return True
        local = moment.astimezone(zoneinfo.ZoneInfo(self.timezone))
        return local.weekday() < 5 and self.office_opens <= local.hour < self.office_closes


class DirectoryEntry(models.Model):
    """Where a supporter's letter goes when they pick their country, e.g. the embassy in that country."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="directory")
    country = models.CharField(_("country code"), max_length=2, help_text=_("ISO 3166 code, for example FR."))
    country_name = models.CharField(_("country"), max_length=100)
    name = models.CharField(_("recipient"), max_length=200)
    email = models.EmailField(_("e-mail address"))
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES, blank=True)

    class Meta:
        verbose_name = _("directory entry")
        verbose_name_plural = _("target directory")
        ordering = ["country_name"]
        constraints = [models.UniqueConstraint(fields=["campaign", "country"], name="one_entry_per_country")]

    def __str__(self) -> str:
        return f"{self.country_name}: {self.name} <{self.email}>"


class ModelLetter(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="letters")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(
        _("body"),
        help_text=_(
            "Placeholders: {signatory}, {full_name}, {personal_sentence}, {place_and_date}, {signature}, "
            "{city}, {date}."
        ),
    )
    is_translation = models.BooleanField(_("translation of the original"), default=False)

    class Meta:
        verbose_name = _("model letter")
        verbose_name_plural = _("model letters")
        constraints = [models.UniqueConstraint(fields=["campaign", "language"], name="one_letter_per_language")]

    def __str__(self) -> str:
        return f"{self.campaign} ({self.language})"


class CampaignText(models.Model):
    """The campaign page in another language than the original (which lives on Campaign itself)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="texts")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    title = models.CharField(_("title"), max_length=200)
    summary = models.TextField(_("summary"), max_length=600)
    article = models.TextField(_("article (Markdown)"), blank=True)
    photo_alt = models.CharField(_("photo description for screen readers"), max_length=300, blank=True)
    photo_caption = models.CharField(_("photo caption"), max_length=300, blank=True)
    photo_credit = models.CharField(_("photo credit"), max_length=200, blank=True)
    translation_note = models.CharField(
        _("translation note"),
        max_length=200,
        blank=True,
        help_text=_("Shown on the page, for example: Translated from the French original."),
    )

    class Meta:
        verbose_name = _("campaign text in another language")
        verbose_name_plural = _("campaign texts in other languages")
        constraints = [models.UniqueConstraint(fields=["campaign", "language"], name="one_text_per_language")]

    def __str__(self) -> str:
        return f"{self.title} ({self.language})"

    @property
    def is_translation(self) -> bool:
        return self.campaign_id is not None and self.language != self.campaign.language

    def article_html(self) -> str:
        return render_markdown(self.article)


class Person(models.Model):
    """Someone the campaign defends: the case file."""

    class Status(models.TextChoices):
        DETAINED = "detained", _("Detained")
        INJURED = "injured", _("Injured")
        CHARGED = "charged", _("Charged")
        SENTENCED = "sentenced", _("Sentenced")
        MISSING = "missing", _("Whereabouts unknown")
        RELEASED = "released", _("Released")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="people")
    name = models.CharField(
        _("name, as the letter writes it"),
        max_length=200,
        help_text=_("The letter checker compares the names in the letters with this one and its other spellings."),
    )
    other_spellings = models.CharField(
        _("other spellings"),
        max_length=500,
        blank=True,
        help_text=_("Separated by commas: the name in Latin and Cyrillic letters, as it is also found."),
    )
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.DETAINED)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("person concerned")
        verbose_name_plural = _("people concerned")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def spellings(self) -> list[str]:
        return [part.strip() for part in self.other_spellings.split(",") if part.strip()]

    def timeline(self, language: str) -> list["PersonUpdate"]:
        """The updates in a language, or in the campaign's original language when there are none in it."""
        updates = list(self.updates.all())
        in_language = [u for u in updates if u.language == language]
        return in_language or [u for u in updates if u.language == self.campaign.language] or updates


class PersonUpdate(models.Model):
    """A dated entry in a person's timeline, published by the organisers in one language."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="updates")
    date = models.DateField(_("date"))
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    text = models.TextField(_("what happened"), max_length=2000)

    class Meta:
        verbose_name = _("update")
        verbose_name_plural = _("updates")
        ordering = ["-date", "-id"]

    def __str__(self) -> str:
        return f"{self.date} {self.person}"


class BlockedWords(models.Model):
    """Words that hold a personal sentence for review, per campaign and language, edited by its organisers."""

    campaign = models.ForeignKey("Campaign", on_delete=models.CASCADE, related_name="blocked_words")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    words = models.TextField(_("words"), blank=True, help_text=_("One word or phrase per line."))

    class Meta:
        # The table keeps the name it had when the model lived in signatures (campaigns' migration 0009).
        db_table = "signatures_blockedwords"
        verbose_name = _("words held for review")
        verbose_name_plural = _("words held for review")
        constraints = [models.UniqueConstraint(fields=["campaign", "language"], name="one_word_list_per_language")]

    def __str__(self) -> str:
        return f"{self.campaign} ({self.language})"

    def word_list(self) -> list[str]:
        return [line.strip().casefold() for line in self.words.splitlines() if line.strip()]


class FollowUp(models.Model):
    """A second letter on the same campaign, written when the case changes (a sentence, a release, an arrest).

    Its supporters are those who signed and asked for news: each receives a link that sends it in their name
    with what they gave when they signed (news/follow_ups.py invites them, signatures/follow_ups.py signs,
    delivery/follow_ups.py writes the letters). Its status moves draft -> open -> closed, only through `move`.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open: supporters invited")
        CLOSED = "closed", _("Closed")

    # The moves, each from the statuses it may leave.
    TRANSITIONS = {"open": ((Status.DRAFT,), Status.OPEN), "close": ((Status.OPEN,), Status.CLOSED)}

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="follow_ups")
    name = models.CharField(
        _("name"),
        max_length=120,
        help_text=_("Shown on the campaign page beside its counter, for example: After the verdict of 14 March."),
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(_("opened"), null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True, editable=False)
    # Set when it opens (news/follow_ups.py): the last signature that may be invited then, how many that was,
    # how far the worker has queued the invitations, and when it finished.
    invitees_until = models.BigIntegerField(null=True, editable=False)
    invitees_count = models.PositiveIntegerField(default=0, editable=False)
    invited_through = models.BigIntegerField(default=0, editable=False)
    invitations_queued_at = models.DateTimeField(null=True, editable=False)
    # The letters written for it, counted by the worker as it writes them (delivery/follow_ups.py).
    tally_letters = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        verbose_name = _("follow-up letter")
        verbose_name_plural = _("follow-up letters")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def move(self, transition: str, **changes) -> bool:
        """Make the move if the follow-up is, in the same UPDATE, in a status it may leave; False otherwise."""
        sources, reached = self.TRANSITIONS[transition]
        moved = FollowUp.objects.filter(pk=self.pk, status__in=sources).update(status=reached, **changes)
        if moved:
            self.status = reached
            for name, value in changes.items():
                setattr(self, name, value)
        return bool(moved)

    def letter_for(self, language: str) -> "FollowUpLetter | None":
        """Its letter in a language, or in the campaign's original language, or any."""
        letters = {letter.language: letter for letter in self.letters.all()}
        return letters.get(language) or letters.get(self.campaign.language) or next(iter(letters.values()), None)


class FollowUpLetter(models.Model):
    """A follow-up's letter in one language, and what the invitation tells supporters of that language."""

    follow_up = models.ForeignKey(FollowUp, on_delete=models.CASCADE, related_name="letters")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=200)
    body = models.TextField(_("letter"), max_length=20000)
    invitation = models.TextField(
        _("what changed, for the supporters"),
        max_length=3000,
        help_text=_("The start of the e-mail that invites them to send it: why a second letter, in a few lines."),
    )

    class Meta:
        verbose_name = _("follow-up letter in one language")
        verbose_name_plural = _("follow-up letters in one language")
        constraints = [
            models.UniqueConstraint(fields=["follow_up", "language"], name="one_follow_up_letter_per_language")
        ]

    def __str__(self) -> str:
        return f"{self.follow_up} ({self.language})"
