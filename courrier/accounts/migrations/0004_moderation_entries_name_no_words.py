"""Moderation entries of the audit log keep the rule, never the reason: a reason may quote what the supporter
wrote (a link, an address), and the log outlives the supporter's erasure (security review, issue 12).

Entries written before kept "approved #12 (campaign): a link: example.ru"; they keep "approved #12 (campaign)".
Not reversible in content (the words are gone), harmless to unapply.
"""

from django.db import migrations

from courrier.lib import crypto
from courrier.db.rotation import as_text, rewrite


def without_reasons(apps, schema_editor):
    AuditEntry = apps.get_model("accounts", "AuditEntry")

    def transform(values: dict) -> dict:
        if values["action"] != "moderation" or not as_text(values["summary"]):
            return {}
        summary = crypto.decrypt(as_text(values["summary"]))
        head, found, _reason = summary.partition("): ")
        return {"summary": crypto.encrypt(head + ")")} if found else {}

    rewrite(AuditEntry, ["summary", "action"], transform, connection=schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_encrypted_totp_secret"),
    ]

    operations = [migrations.RunPython(without_reasons, migrations.RunPython.noop)]
