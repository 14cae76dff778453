from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("signatures", "0006_encrypted_personal_data"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataRequest",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("email_digest", models.CharField(editable=False, max_length=64)),
                ("language", models.CharField(choices=[('fr', 'Français'), ('en', 'English'), ('ru', 'Русский'), ('kk', 'Қазақша')], editable=False, max_length=8)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={
                "verbose_name": "request for one's data",
                "verbose_name_plural": "requests for one's data",
            },
        ),
    ]
