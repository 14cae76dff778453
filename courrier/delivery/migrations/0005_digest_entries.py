"""Digest entries: each letter to a digest target is written for it when the letter is queued.

Until now a digest listed every signature of the campaign after the target's cursor, so a target
added or switched to digests received everyone who had signed before (security review, issue 12).
The letters a cursor still had to list become entries here, so none is lost in the upgrade: for
each target in digest mode that has had a digest (its cursor is set), the letters queued after its
cursor whose recipients include it. A target that has had none yet starts from the upgrade: a digest
target gets its first digest within a minute of its first letter, so a cursor still empty with letters
behind it is exactly the case of a target added later, whose earlier signers never wrote to it.

The letters are rendered with the project's own letter functions (courrier.campaigns.letters, plain
functions of a model letter and a signer): the historical models here carry no methods.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models
from django.db.models import Q

import courrier.db.fields


def entries_from_cursors(apps, schema_editor):
    # Plain functions of the project: the letter's text exactly as the worker writes it.
    from courrier.campaigns.letters import Signer, render_bilingual_letter, render_letter, versions_for_targets

    Target = apps.get_model("campaigns", "Target")
    Signature = apps.get_model("signatures", "Signature")
    DigestEntry = apps.get_model("delivery", "DigestEntry")
    listed = ("full_name", "organisation", "organisation_role", "city", "personal_sentence")
    for target in Target.objects.filter(delivery_mode="digest", digest_cursor_at__isnull=False):
        campaign = target.campaign
        letters = {letter.language: letter for letter in campaign.letters.all()}
        if not letters:
            continue
        targets = [t for t in campaign.targets.all() if t.active]
        directory = {entry.country: entry for entry in campaign.directory.all()}
        after = Q(letters_queued_at__gt=target.digest_cursor_at) | Q(
            letters_queued_at=target.digest_cursor_at, pk__gt=target.digest_cursor
        )
        due = Signature.objects.filter(
            after, campaign=campaign, is_duplicate=False, anonymised_at__isnull=True, letters_queued_at__isnull=False
        )
        entries = []
        for signature in due.iterator():
            entry = directory.get(signature.directory_country) if campaign.use_directory else None
            if entry is not None:
                address = entry.email.strip().lower()
                recipients = {address} | {t.email.strip().lower() for t in targets if t.role == "cc"}
            else:
                recipients = {t.email.strip().lower() for t in targets}
            if target.email.strip().lower() not in recipients:
                continue  # the supporter's letter went elsewhere (their country's entry)
            model = letters.get(signature.letter_language) or letters.get(campaign.language) or next(iter(letters.values()))
            signer = Signer(
                first_name=signature.first_name,
                last_name=signature.last_name,
                organisation=signature.organisation,
                organisation_role=signature.organisation_role,
                city=signature.city,
                personal_sentence=signature.personal_sentence,
                signed_on=django.utils.timezone.localdate(signature.confirmed_at) if signature.confirmed_at else None,
            )
            if campaign.bilingual_letters:
                versions = versions_for_targets(letters.values(), model.language, [target.language])
                subject, body = render_bilingual_letter(model, signer, signature.letter_body, versions)
            else:
                subject, body = render_letter(model, signer, signature.letter_body)
            listing = {name: getattr(signer, name) for name in listed}
            entries.append(
                DigestEntry(
                    target=target,
                    signature=signature,
                    queued_at=signature.letters_queued_at,
                    listing={**listing, "edited": bool(signature.letter_body)},
                    subject=subject,
                    body=body,
                )
            )
        DigestEntry.objects.bulk_create(entries, batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_encrypted_tally"),
        ("delivery", "0004_encrypted_personal_data"),
        ("signatures", "0008_one_index_for_campaign_and_date"),
    ]

    operations = [
        migrations.CreateModel(
            name="DigestEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("queued_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("listing", courrier.db.fields.EncryptedJSONField(blank=True, default=dict)),
                ("subject", courrier.db.fields.EncryptedCharField(blank=True, max_length=300)),
                ("body", courrier.db.fields.EncryptedTextField(blank=True)),
                ("cancelled_at", models.DateTimeField(blank=True, null=True)),
                (
                    "digest",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="digest_entries",
                        to="delivery.outboxmessage",
                    ),
                ),
                (
                    "signature",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="digest_entries",
                        to="signatures.signature",
                    ),
                ),
                (
                    "target",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="digest_entries", to="campaigns.target"
                    ),
                ),
            ],
            options={
                "verbose_name": "letter waiting for a digest",
                "verbose_name_plural": "letters waiting for a digest",
                "indexes": [models.Index(fields=["target", "digest", "cancelled_at"], name="digest_entries_pending")],
                "constraints": [
                    models.UniqueConstraint(fields=("target", "signature"), name="one_digest_entry_per_letter")
                ],
            },
        ),
        migrations.RunPython(entries_from_cursors, migrations.RunPython.noop),
    ]
