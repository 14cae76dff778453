import copy
import re

from django import forms
from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from courrier.campaigns.open_campaigns import SignableCampaign
from courrier.lib.headers import is_plain_address
from courrier.signatures.models import SUPPORTER_FIELDS, Signature

_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x85]")
# Unicode's controls (category Cc: U+0000-U+001F and U+007F-U+009F) and its line and paragraph
# separators (Zl, Zp: U+2028 and U+2029 alone), as character classes: a regular expression scans
# a 10,000-character letter in microseconds, where a Python loop over its characters took milliseconds.
_CONTROLS_AND_SEPARATORS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROLS_BUT_TAB_AND_NEWLINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def has_control_characters(value: str) -> bool:
    return _CONTROLS_AND_SEPARATORS.search(value) is not None


class SingleLineField(forms.CharField):
    """A one-line text: a name, a city. Line breaks and control characters are refused."""

    def validate(self, value: str) -> None:
        super().validate(value)
        if value and has_control_characters(value):
            raise forms.ValidationError(
                _("Please write this on one line, without line breaks or invisible control characters."),
                code="control_characters",
            )


def clean_paragraph(value: str) -> str:
    """Line breaks made plain, other control characters dropped, outer spaces trimmed."""
    return _CONTROLS_BUT_TAB_AND_NEWLINE.sub("", _LINE_BREAKS.sub("\n", value)).strip()


class ParagraphField(forms.CharField):
    """Free text for the letter body: line breaks are kept, other controls dropped."""

    def to_python(self, value):
        return clean_paragraph(super().to_python(value))


SIGNATURE_FIELDS = [
    *SUPPORTER_FIELDS,
    "letter_language",
    "consent_send",
    "consent_list_organisation",
    "consent_news",
    "consent_reply_direct",
    "wants_answer",
    "source",
    "directory_country",
]

# The choice "my country is not listed" of a campaign with a target directory: its letter goes to the
# campaign's own To targets. Not a country code (those are two letters), so it never matches an entry.
COUNTRY_NOT_LISTED = "-"


def country_choice(directory: tuple[tuple[str, str], ...], fallback: bool) -> forms.ChoiceField:
    """The required country select of a campaign with a target directory."""
    choices = [("", _("Choose your country")), *directory]
    if fallback:
        choices.append((COUNTRY_NOT_LISTED, _("My country is not listed")))
    return forms.ChoiceField(
        label=_("Your country"),
        choices=choices,
        help_text=_("Your letter goes to the recipient for the country you choose."),
        error_messages={
            "required": _("Choose your country: your letter goes to the recipient for that country."),
            "invalid_choice": _("This country is no longer in the list: choose your country again."),
        },
    )


class SharedFields(dict):
    """A form's fields built once and never changed afterwards.

    Django deep-copies a form's fields for every instance, in case the
    instance changes them; that copy was a fifth of a signature's CPU. These
    are read only (rendering and cleaning never write to a field), so every
    form of the same campaign set-up shares them.
    """

    def __deepcopy__(self, memo) -> dict:
        if "form" in settings.PLAIN_PATHS:
            return copy.deepcopy(dict(self), memo)  # the plain twin: Django's own copy
        return dict(self)


_shared_fields: dict[tuple, SharedFields] = {}


def shared_fields(*setup) -> SharedFields:
    """SignatureForm.build_fields(*setup), built once per set-up (a campaign's letters, directory, language)."""
    fields = _shared_fields.get(setup)
    if fields is None:
        if len(_shared_fields) > 256:  # set-ups change when organisers edit campaigns: keep the newest
            _shared_fields.clear()
        fields = _shared_fields[setup] = SharedFields(SignatureForm.build_fields(*setup))
    return fields


class SignatureForm(forms.Form):
    first_name = SingleLineField(label=_("First name"), max_length=100)
    last_name = SingleLineField(label=_("Last name"), max_length=100)
    email = forms.EmailField(
        label=_("E-mail address"),
        max_length=254,
        help_text=_("We send you a link to confirm your letter. It is not shown to the embassy in the letter text."),
    )
    city = SingleLineField(label=_("City"), max_length=100, required=False)
    country = SingleLineField(label=_("Country"), max_length=100, required=False)
    organisation = SingleLineField(
        label=_("Organisation (trade union, party, association)"),
        max_length=200,
        required=False,
        help_text=_("Leave empty to sign in your own name."),
    )
    organisation_role = SingleLineField(
        label=_("Your role in the organisation"),
        max_length=100,
        required=False,
        help_text=_("For example: secretary, member of the board."),
    )
    personal_sentence = ParagraphField(
        label=_("A personal sentence"),
        max_length=600,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Added to the letter as you write it, up to 600 characters."),
    )
    letter_body = ParagraphField(
        label=_("Your version of the whole letter"),
        max_length=10000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 16}),
        help_text=_(
            "Change what you like, up to 10,000 characters. Words in braces, such as {signature}, "
            "are filled in for you: keep them where they belong."
        ),
    )
    letter_language = forms.ChoiceField(
        label=_("Language of the letter"),
        help_text=_("The letter can be in another language than this page."),
    )
    consent_send = forms.BooleanField(
        label=_("Your agreement"),
        required=True,
        error_messages={"required": _("Tick this box to send the letter: it cannot be sent without your agreement.")},
    )
    consent_list_organisation = forms.BooleanField(required=False)
    consent_news = forms.BooleanField(required=False)
    consent_reply_direct = forms.BooleanField(required=False)
    wants_answer = forms.BooleanField(required=False)
    # Where the supporter came from: the QR code or a shared link add ?src= to the campaign's
    # address, and the page carries it in a hidden field. Anything else counts as the page.
    source = forms.CharField(required=False, widget=forms.HiddenInput)
    # Humans never see this field; a bot that fills it is answered like anybody else.
    website = forms.CharField(required=False, max_length=200, label=_("Leave this field empty"))

    def __init__(
        self,
        *args,
        letter_languages: list[str],
        default_language: str,
        editable_letters: dict[str, str] | None = None,
        directory: tuple[tuple[str, str], ...] | None = None,
        directory_fallback: bool = False,
        **kwargs,
    ):
        """letter_languages: the languages the campaign has a model letter in, the original first.

        editable_letters: the model letters' bodies by language when the campaign lets supporters
        edit the whole letter; None when it does not (a letter_body sent anyway is then refused).

        directory: the campaign's target directory as (country code, country name) pairs when supporters
        pick their country (campaign.use_directory); the country field is then a required choice, and
        directory_fallback adds "my country is not listed" (the letter then goes to the To targets).
        """
        self.editable_letters = editable_letters
        self.directory = dict(directory) if directory else None
        # Built once per campaign set-up and shared (see SharedFields), instead of deep-copied per request.
        self.base_fields = shared_fields(
            tuple(letter_languages),
            default_language,
            tuple(sorted(editable_letters.items())) if editable_letters is not None else None,
            directory,
            directory_fallback,
        )
        super().__init__(*args, **kwargs)

    @classmethod
    def build_fields(
        cls,
        letter_languages: tuple[str, ...],
        default_language: str,
        editable_letters: tuple[tuple[str, str], ...] | None,
        directory: tuple[tuple[str, str], ...] | None,
        directory_fallback: bool,
    ) -> dict[str, forms.Field]:
        """The form's fields for one campaign set-up: what Django would otherwise redo on every request."""
        fields = copy.deepcopy(cls.base_fields)
        if directory:
            fields["country"] = country_choice(directory, directory_fallback)
        if editable_letters is None:
            del fields["letter_body"]  # not on the page; one sent anyway is refused in clean()
        names = dict(settings.LANGUAGES)  # each language named in itself
        fields["letter_language"].choices = [(code, names.get(code, code)) for code in letter_languages]
        fields["letter_language"].initial = (
            default_language
            if default_language in letter_languages
            else letter_languages[0]
            if letter_languages
            else ""
        )
        if editable_letters is not None:
            # Pre-filled with the model letter, placeholders and all: the preview shows it filled in.
            fields["letter_body"].initial = dict(editable_letters).get(fields["letter_language"].initial, "")
        autocomplete = {
            "first_name": "given-name",
            "last_name": "family-name",
            "email": "email",
            "city": "address-level2",
            "country": "country-name",
            "organisation": "organization",
            "organisation_role": "organization-title",
            "website": "off",
        }
        if directory:
            autocomplete["country"] = "country"  # the options' values are ISO codes, which browsers fill in
        for name, value in autocomplete.items():
            fields[name].widget.attrs["autocomplete"] = value
        fields["website"].widget.attrs["tabindex"] = "-1"
        return fields

    def _clean_fields(self) -> None:
        """Django's field cleaning, without building a BoundField for each field first.

        Those objects (label, widget, help text, initial value) are only needed
        to render the form; building fourteen of them cost a tenth of every
        signature's CPU. No field here is disabled or a file, the two cases
        where Django's version reads more than the posted value.
        """
        if "form" in settings.PLAIN_PATHS:
            super()._clean_fields()  # the plain twin, Django's own (tests/test_fast_paths.py compares them)
            return
        for name, field in self.fields.items():
            try:
                value = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
                self.cleaned_data[name] = field.clean(value)
                if (clean_field := getattr(self, f"clean_{name}", None)) is not None:
                    self.cleaned_data[name] = clean_field()
            except forms.ValidationError as error:
                self.add_error(name, error)

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if not is_plain_address(email):
            raise forms.ValidationError(
                _("Please enter a plain e-mail address such as name@example.org, without quotes or spaces."),
                code="unsafe_email",
            )
        return email

    def clean_source(self) -> str:
        """A source the page can come from; the embedded form is set by its own view, never by the form."""
        return Signature.Source.from_page_address(self.cleaned_data["source"]) or Signature.Source.PAGE

    def clean_letter_body(self) -> str:
        body = self.cleaned_data["letter_body"]
        # Without JavaScript the textarea is always sent, holding the model letter: unchanged is not edited,
        # so the letter follows the chosen language (and the organiser's later corrections).
        if body in {clean_paragraph(model) for model in self.editable_letters.values()}:
            return ""
        return body

    def clean(self):
        cleaned = super().clean()
        if self.editable_letters is None and str(self.data.get("letter_body", "")).strip():
            # A page opened before the organiser turned editing off, or a hand-made request:
            # say so rather than send, in the supporter's name, a letter they did not write.
            self.add_error(
                None,
                _(
                    "This campaign does not let supporters edit the whole letter, so your version cannot be sent. "
                    "Sign again to send the model letter, with your personal sentence if you add one."
                ),
            )
        body, sentence = cleaned.get("letter_body"), cleaned.get("personal_sentence")
        if body and sentence and "{personal_sentence}" not in body:
            self.add_error(
                "personal_sentence",
                _(
                    "Your version of the letter no longer has {personal_sentence} in it: write your sentence "
                    "into the letter, or put {personal_sentence} back where it should go."
                ),
            )
        if self.directory and cleaned.get("country"):
            # The code picks the directory entry; the signature keeps the country's name, as typed ones are.
            code = cleaned["country"]
            cleaned["directory_country"] = "" if code == COUNTRY_NOT_LISTED else code
            cleaned["country"] = self.directory.get(code, "")
        if cleaned.get("organisation_role") and not cleaned.get("organisation"):
            self.add_error("organisation", _("Give the organisation's name, or leave your role empty."))
        if not cleaned.get("organisation"):
            cleaned["consent_list_organisation"] = False
        return cleaned

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def signature(self, campaign_id: int, language: str) -> Signature:
        """The row to INSERT; a repeat address is handled by signatures/signing.py (record)."""
        fields = {name: self.cleaned_data.get(name, "") for name in SIGNATURE_FIELDS}
        fields["is_model_letter"] = (
            not (fields["personal_sentence"] or "").strip() and not (fields["letter_body"] or "").strip()
        )
        # Its email_digest is computed from the address by the INSERT (EmailDigestField.pre_save).
        return Signature(campaign_id=campaign_id, language=language, **fields)


def signing_form(
    campaign: SignableCampaign, data=None, editable_letters: dict[str, str] | None = None
) -> SignatureForm:
    """The signing form of a campaign, on its page, in its embed and in the organisers' preview.

    editable_letters: the model letters, when supporters may edit the whole letter and the page offers it
    (Campaign.editable_letters); the embed never does.
    """
    return SignatureForm(
        data,
        letter_languages=campaign.letter_languages,
        default_language=get_language(),
        editable_letters=editable_letters,
        directory=campaign.directory,
        directory_fallback=campaign.directory_fallback,
    )
