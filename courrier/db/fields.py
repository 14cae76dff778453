"""Model fields whose values are stored encrypted (courrier/lib/crypto.py), and the digest that finds them.

In Python an encrypted field holds its plain value (a str, a list, bytes);
in the database a text column holds `enc1:<key id>:<ciphertext>`, sealed
with a fresh nonce each time. So the database can store and return these
values but never compare them: two encryptions of the same name differ.
A query that filters, orders or groups on one would silently go wrong, so
every look-up but `isnull` and `= ""` raises FieldError; what needs finding
has its own keyed digest column (Signature.email_digest). Matching text,
ordering by name or removing duplicate organisations happens in Python,
after the rows are read.

They deliberately do not subclass CharField or TextField: code that treats
those as plain text (signatures/recording.py's fast INSERT, admin search) must
not take an encrypted field for one.
"""

import base64
import json
from typing import Any

from django import forms
from django.core import validators
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull

from courrier.lib import crypto


class EmptyOnlyExact(Exact):
    """`field=""`: the only equality an encrypted column can answer (the empty value is stored as it is)."""

    def get_prep_lookup(self):
        if self.rhs != "":
            raise FieldError(
                f"{self.lhs.target.name} is encrypted: it can only be compared with the empty value. "
                "Look addresses up by their digest, and match other text in Python."
            )
        return self.rhs


class EncryptedField(models.Field):
    """The base: a text column holding crypto.encrypt() of the value's text form."""

    description = "Encrypted text"

    def get_internal_type(self) -> str:
        return "TextField"

    def get_lookup(self, lookup_name: str):
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact" and isinstance(self, EncryptedTextField):
            return EmptyOnlyExact
        return None  # Django then raises FieldError "Unsupported lookup" rather than compare ciphertexts

    def get_transform(self, lookup_name: str):
        return None

    # The text form of a Python value, and back: overridden by the list and bytes fields.
    def to_text(self, value: Any) -> str:
        return str(value)

    def from_text(self, text: str) -> Any:
        return text

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return self.from_text(crypto.decrypt(value)) if value else self.from_text(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None:
            return None
        return crypto.encrypt(self.to_text(value))

    def stored(self, value: Any) -> str | None:
        """What the column holds for this Python value (for raw writes: migrations, rotation)."""
        return self.get_prep_value(value)

    def value_to_string(self, obj) -> str:
        return self.to_text(self.value_from_object(obj))


class EncryptedTextField(EncryptedField):
    """Text on several lines (a personal sentence, a letter); a Textarea in forms."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.max_length is not None:
            # The column is unbounded text (a ciphertext is longer than its text): the limit is the value's.
            self.validators.append(validators.MaxLengthValidator(self.max_length))

    def to_python(self, value):
        if value is None or isinstance(value, str):
            return value
        return str(value)

    def formfield(self, **kwargs):
        return super().formfield(
            **{"form_class": forms.CharField, "max_length": self.max_length, "widget": forms.Textarea, **kwargs}
        )


class EncryptedCharField(EncryptedTextField):
    """A one-line text (a name, a city)."""

    def formfield(self, **kwargs):
        return super().formfield(**{"widget": forms.TextInput, **kwargs})


class EncryptedEmailField(EncryptedCharField):
    default_validators = [validators.validate_email]

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": forms.EmailField, **kwargs})


class EncryptedJSONField(EncryptedField):
    """A list or dict (the outbox's recipients, the public list of organisations), stored as encrypted JSON."""

    description = "Encrypted JSON"

    def to_text(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def from_text(self, text: str) -> Any:
        return json.loads(text) if text else None

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})


class EncryptedBinaryField(EncryptedField):
    """Bytes (a PDF attachment), stored as the sealed bytes' base64 text. Never editable in a form."""

    description = "Encrypted bytes"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        return None if value is None else crypto.unseal(value)

    def get_prep_value(self, value):
        if value is None:
            return None
        return crypto.seal(bytes(value))

    def value_to_string(self, obj) -> str:
        value = self.value_from_object(obj)
        return "" if value is None else base64.b64encode(value).decode()


class EmailDigestField(models.CharField):
    """The keyed digest of another field's e-mail address, computed on every save (None/"" when it is empty).

    Finding an address (has it signed this campaign? erase its data) compares
    digests; the address itself stays encrypted. Computed in pre_save, so
    save(), bulk_create() and the signing request's prepared INSERT all fill it.
    """

    def __init__(self, *args, source: str = "email", **kwargs):
        self.source = source
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def pre_save(self, model_instance, add: bool):
        address = getattr(model_instance, self.source) or ""
        # No address, no digest: NULL (never equal to another) or "" when the column is NOT NULL.
        value = crypto.email_digest(address) if address.strip() else (None if self.null else "")
        setattr(model_instance, self.attname, value)
        return value


# Fields whose stored value is not the Python value: never to be written without the field's methods.
COMPUTED_FIELDS = (EncryptedField, EmailDigestField)


def encrypted_fields(model) -> list[EncryptedField]:
    return [field for field in model._meta.concrete_fields if isinstance(field, EncryptedField)]
