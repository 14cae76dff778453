"""What supporters typed, encrypted at rest; the address looked up by its keyed digest.

Reversible: going back decrypts every value (with the keys in DATA_KEYS) and
restores the unique (campaign, email) constraint. That reverse fails if two
anonymised signatures of one campaign share the empty address: their
personal data is gone either way.
"""

from django.db import migrations, models
from django.db.models import Q

import courrier.db.fields
from courrier.lib import crypto
from courrier.db.rotation import decrypt_in_place, encrypt_in_place, migration_step, rewrite

ENCRYPTED = [
    "first_name",
    "last_name",
    "email",
    "city",
    "country",
    "organisation",
    "organisation_role",
    "personal_sentence",
    "letter_body",
    "directory_country",
    "moderation_reason",
]


def encrypt(apps, schema_editor):
    Signature = apps.get_model("signatures", "Signature")
    connection = schema_editor.connection
    table = connection.ops.quote_name(Signature._meta.db_table)
    # Two rows of a campaign that differ only by case ("A@x" and "a@x"; never both from the form, which
    # lowers the case) would share a digest: the later one becomes a duplicate, as it would be if signed today.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, campaign_id, email FROM {table} WHERE is_duplicate = %s ORDER BY id", [False])  # noqa: S608
        rows = cursor.fetchall()
    seen = set()
    for pk, campaign_id, address in rows:
        if address:
            key = (campaign_id, crypto.email_digest(address))
            if key in seen:
                Signature.objects.filter(pk=pk).update(is_duplicate=True)
            seen.add(key)
    transform = encrypt_in_place(ENCRYPTED, {"email_digest": "email"})
    rewrite(Signature, [*ENCRYPTED, "email_digest"], transform, connection=connection)


class Migration(migrations.Migration):
    dependencies = [
        ("signatures", "0005_proof_and_anonymisation"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="signature", name="one_signature_per_address"),
        migrations.AddField(
            model_name="signature",
            name="email_digest",
            field=courrier.db.fields.EmailDigestField(
                blank=True, editable=False, max_length=64, null=True, source="email"
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="first_name",
            field=courrier.db.fields.EncryptedCharField(max_length=100, verbose_name="first name"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="last_name",
            field=courrier.db.fields.EncryptedCharField(max_length=100, verbose_name="last name"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="email",
            field=courrier.db.fields.EncryptedEmailField(max_length=254, verbose_name="e-mail address"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="city",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=100, verbose_name="city"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="country",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=100, verbose_name="country"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="organisation",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=200, verbose_name="organisation"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="organisation_role",
            field=courrier.db.fields.EncryptedCharField(
                blank=True, max_length=100, verbose_name="role in the organisation"
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="personal_sentence",
            field=courrier.db.fields.EncryptedTextField(blank=True, max_length=600, verbose_name="personal sentence"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="letter_body",
            field=courrier.db.fields.EncryptedTextField(
                blank=True, max_length=10000, verbose_name="letter as edited by the supporter"
            ),
        ),
        migrations.AlterField(
            model_name="signature",
            name="directory_country",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=2, verbose_name="country picked"),
        ),
        migrations.AlterField(
            model_name="signature",
            name="moderation_reason",
            field=courrier.db.fields.EncryptedCharField(blank=True, max_length=200, verbose_name="why it is held"),
        ),
        migrations.RunPython(encrypt, migration_step("signatures", "Signature", ENCRYPTED, decrypt_in_place)),
        migrations.AddConstraint(
            model_name="signature",
            constraint=models.UniqueConstraint(
                condition=Q(is_duplicate=False),
                fields=("campaign", "email_digest"),
                name="one_signature_per_address",
            ),
        ),
    ]
