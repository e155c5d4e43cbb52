from django.db import migrations, models


class Migration(migrations.Migration):
    """The fields a consent covers (empty: every field, as consents recorded without a data agreement did)."""

    dependencies = [("exchange", "0006_consent_agreements")]

    operations = [
        migrations.AddField(
            model_name="consentrecord",
            name="fields",
            field=models.JSONField(blank=True, default=list, help_text="The resource's fields this consent covers; empty: all of them (a consent recorded without a data agreement).", verbose_name="fields consented to"),
        ),
    ]
