"""Each recipient of a letter or digest gets its own state (issue 13): the many-to-many link between outbox
messages and targets becomes the Recipient model, in the same table, with new columns.

Django cannot add a `through` model to an existing many-to-many field by itself: the state learns of the
model over the existing table (SeparateDatabaseAndState), then the columns are added for real. The rows
written before take their message's state and their target's address.
"""

import django.db.models.deletion
from django.db import migrations, models

import courrier.db.fields


def recipients_from_messages(apps, schema_editor):
    Recipient = apps.get_model("delivery", "Recipient")
    statuses = {"sent": "sent", "failed": "failed"}
    batch = []
    rows = Recipient.objects.select_related("outboxmessage", "target").order_by("pk")
    for row in rows.iterator(chunk_size=500):
        message = row.outboxmessage
        row.address = row.target.email
        row.role = "to" if row.address.lower() in {a.lower() for a in message.to} else "cc"
        row.status = statuses.get(message.status, "queued")
        row.sent_at = message.sent_at if row.status == "sent" else None
        batch.append(row)
        if len(batch) >= 500:
            Recipient.objects.bulk_update(batch, ["address", "role", "status", "sent_at"])
            batch = []
    Recipient.objects.bulk_update(batch, ["address", "role", "status", "sent_at"])


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0007_digest_cursor_replaced_by_entries"),
        ("delivery", "0005_digest_entries"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Recipient",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        (
                            "outboxmessage",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="recipients_of",
                                to="delivery.outboxmessage",
                            ),
                        ),
                        (
                            "target",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="deliveries",
                                to="campaigns.target",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "recipient",
                        "verbose_name_plural": "recipients",
                        "db_table": "delivery_outboxmessage_targets",
                        "unique_together": {("outboxmessage", "target")},
                    },
                ),
                migrations.AlterField(
                    model_name="outboxmessage",
                    name="targets",
                    field=models.ManyToManyField(
                        blank=True,
                        related_name="outbox",
                        through="delivery.Recipient",
                        through_fields=("outboxmessage", "target"),
                        to="campaigns.target",
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="recipient",
            name="address",
            field=models.CharField(blank=True, max_length=254, verbose_name="address"),
        ),
        migrations.AddField(
            model_name="recipient",
            name="role",
            field=models.CharField(
                choices=[("to", "To"), ("cc", "Copy (Cc)")], default="to", max_length=2, verbose_name="role"
            ),
        ),
        migrations.AddField(
            model_name="recipient",
            name="status",
            field=models.CharField(
                choices=[("queued", "Queued"), ("sent", "Sent"), ("deferred", "Deferred (will retry)"), ("failed", "Failed")],
                default="queued",
                max_length=10,
                verbose_name="status",
            ),
        ),
        migrations.AddField(
            model_name="recipient",
            name="attempts",
            field=models.PositiveIntegerField(default=0, verbose_name="attempts"),
        ),
        migrations.AddField(
            model_name="recipient",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="next attempt"),
        ),
        migrations.AddField(
            model_name="recipient",
            name="sent_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="sent"),
        ),
        migrations.AddField(
            model_name="recipient",
            name="smtp_code",
            field=models.IntegerField(blank=True, null=True, verbose_name="SMTP code"),
        ),
        migrations.AddField(
            model_name="recipient",
            name="last_reply",
            field=courrier.db.fields.EncryptedTextField(blank=True, verbose_name="last server reply"),
        ),
        migrations.RunPython(recipients_from_messages, migrations.RunPython.noop),
    ]
