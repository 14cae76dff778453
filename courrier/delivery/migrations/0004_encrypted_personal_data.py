"""The outbox, its events and bounces encrypted at rest: what may carry a supporter's name, address or words.

Reversible: going back decrypts every value with the keys in DATA_KEYS.
"""

from django.db import migrations, models

import courrier.db.fields
from courrier.lib import crypto
from courrier.db.rotation import decrypt_in_place, encrypt_in_place, migration_step, rewrite

OUTBOX = ["from_name", "to", "cc", "reply_to", "subject", "body", "last_reply"]
EVENTS = ["reply"]
BOUNCES = ["recipient", "diagnostic"]


def seal_attachments(apps, schema_editor):
    OutboxMessage = apps.get_model("delivery", "OutboxMessage")

    def transform(values):
        raw = values["attachment"]
        return {} if raw is None else {"attachment_sealed": crypto.seal(bytes(raw))}

    rewrite(OutboxMessage, ["attachment", "attachment_sealed"], transform, connection=schema_editor.connection)


def unseal_attachments(apps, schema_editor):
    OutboxMessage = apps.get_model("delivery", "OutboxMessage")

    def transform(values):
        sealed = values["attachment_sealed"]
        return {} if sealed is None else {"attachment": crypto.unseal(sealed)}

    rewrite(OutboxMessage, ["attachment", "attachment_sealed"], transform, connection=schema_editor.connection)


def encrypt_bounces(apps, schema_editor):
    Bounce = apps.get_model("delivery", "Bounce")
    transform = encrypt_in_place(BOUNCES, {"recipient_digest": "recipient"}, no_digest="")
    rewrite(Bounce, [*BOUNCES, "recipient_digest"], transform, connection=schema_editor.connection)


def text(verbose_name, **options):
    return courrier.db.fields.EncryptedTextField(verbose_name=verbose_name, **options)


def line(verbose_name, **options):
    return courrier.db.fields.EncryptedCharField(verbose_name=verbose_name, **options)


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0003_recipient_digest_and_erasure"),
    ]

    operations = [
        migrations.AlterField("outboxmessage", "from_name", line("sender name", max_length=250)),
        migrations.AlterField(
            "outboxmessage", "to", courrier.db.fields.EncryptedJSONField(default=list, verbose_name="to")
        ),
        migrations.AlterField(
            "outboxmessage", "cc", courrier.db.fields.EncryptedJSONField(blank=True, default=list, verbose_name="cc")
        ),
        migrations.AlterField(
            "outboxmessage",
            "reply_to",
            courrier.db.fields.EncryptedEmailField(blank=True, verbose_name="reply to"),
        ),
        migrations.AlterField("outboxmessage", "subject", line("subject", max_length=300)),
        migrations.AlterField("outboxmessage", "body", text("body")),
        migrations.AlterField("outboxmessage", "last_reply", text("last server reply", blank=True)),
        migrations.RunPython(
            migration_step("delivery", "OutboxMessage", OUTBOX, encrypt_in_place),
            migration_step("delivery", "OutboxMessage", OUTBOX, decrypt_in_place),
        ),
        # The attachment changes type (bytes to text): through a new column, so no database has to convert.
        migrations.AddField(
            "outboxmessage",
            "attachment_sealed",
            courrier.db.fields.EncryptedBinaryField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(seal_attachments, unseal_attachments),
        migrations.RemoveField("outboxmessage", "attachment"),
        migrations.RenameField("outboxmessage", "attachment_sealed", "attachment"),
        migrations.AlterField("deliveryevent", "reply", text("server reply or note", blank=True)),
        migrations.RunPython(
            migration_step("delivery", "DeliveryEvent", EVENTS, encrypt_in_place),
            migration_step("delivery", "DeliveryEvent", EVENTS, decrypt_in_place),
        ),
        migrations.RemoveConstraint("bounce", "one_bounce_per_recipient_status"),
        migrations.AlterField("bounce", "recipient", line("recipient", blank=True, max_length=254)),
        migrations.AlterField("bounce", "diagnostic", text("diagnostic", blank=True)),
        migrations.AddField(
            "bounce",
            "recipient_digest",
            courrier.db.fields.EmailDigestField(default="", editable=False, max_length=64, source="recipient"),
        ),
        migrations.RunPython(encrypt_bounces, migration_step("delivery", "Bounce", BOUNCES, decrypt_in_place)),
        migrations.AddConstraint(
            "bounce",
            models.UniqueConstraint(
                fields=("message", "recipient_digest", "status"), name="one_bounce_per_recipient_status"
            ),
        ),
    ]
