import re
import unicodedata

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from courrier.lib.headers import is_plain_address
from courrier.signatures.models import Signature

_LINE_BREAKS = re.compile(r"\r\n|[\r\u2028\u2029\x85]")


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


class SingleLineField(forms.CharField):
    """A one-line text: a name, a city. Line breaks and control characters are refused."""

    def validate(self, value: str) -> None:
        super().validate(value)
        if value and has_control_characters(value):
            raise forms.ValidationError(
                _("Please write this on one line, without line breaks or invisible control characters."),
                code="control_characters",
            )


class ParagraphField(forms.CharField):
    """Free text for the letter body: line breaks are kept, other controls dropped."""

    def to_python(self, value):
        value = super().to_python(value)
        value = _LINE_BREAKS.sub("\n", value)
        return "".join(ch for ch in value if ch in "\n\t" or unicodedata.category(ch) != "Cc").strip()


SIGNATURE_FIELDS = [
    "first_name",
    "last_name",
    "email",
    "city",
    "country",
    "organisation",
    "organisation_role",
    "personal_sentence",
    "letter_language",
    "consent_send",
    "consent_list_organisation",
    "consent_news",
]


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
    letter_language = forms.ChoiceField(label=_("Language of the letter"))
    consent_send = forms.BooleanField(
        required=True,
        error_messages={"required": _("Tick this box to send the letter: it cannot be sent without your agreement.")},
    )
    consent_list_organisation = forms.BooleanField(required=False)
    consent_news = forms.BooleanField(required=False)
    # Humans never see this field; a bot that fills it is answered like anybody else.
    website = forms.CharField(required=False, max_length=200, label=_("Leave this field empty"))

    def __init__(self, *args, letter_languages: list[str], default_language: str, **kwargs):
        """letter_languages: the languages the campaign has a model letter in, the original first."""
        super().__init__(*args, **kwargs)
        names = dict(settings.LANGUAGES)  # each language named in itself
        self.fields["letter_language"].choices = [(code, names.get(code, code)) for code in letter_languages]
        self.fields["letter_language"].initial = (
            default_language
            if default_language in letter_languages
            else letter_languages[0]
            if letter_languages
            else ""
        )
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
        for name, value in autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value
        self.fields["website"].widget.attrs["tabindex"] = "-1"

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if not is_plain_address(email):
            raise forms.ValidationError(
                _("Please enter a plain e-mail address such as name@example.org, without quotes or spaces."),
                code="unsafe_email",
            )
        return email

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("organisation_role") and not cleaned.get("organisation"):
            self.add_error("organisation", _("Give the organisation's name, or leave your role empty."))
        if not cleaned.get("organisation"):
            cleaned["consent_list_organisation"] = False
        return cleaned

    @property
    def is_bot(self) -> bool:
        return bool(self.data.get("website"))

    def signature(self, campaign_id: int, language: str) -> Signature:
        """The row to INSERT; a repeat address is handled by signatures.views.record_signature."""
        fields = {name: self.cleaned_data[name] for name in SIGNATURE_FIELDS}
        return Signature(campaign_id=campaign_id, language=language, **fields)
