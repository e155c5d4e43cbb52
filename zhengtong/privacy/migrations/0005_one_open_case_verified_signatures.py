from django.db import migrations, models


def platform_signatures_are_verified(apps, schema_editor):  # noqa: ANN001, ARG001 (the migration signature)
    """The platform made and checked its own signatures; those written before the flag existed say so."""
    apps.get_model("privacy", "Signature").objects.filter(
        verification_method__startswith="zhengtong-platform-").update(verified=True)


class Migration(migrations.Migration):
    """One open objection per citizen and access; one correction waiting per field of a record; signatures the
    platform could not verify are told apart."""

    dependencies = [("privacy", "0004_cases")]

    operations = [
        migrations.AddConstraint(
            model_name="objection",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "open")),
                                               fields=("citizen", "audit_entry_id"),
                                               name="privacy_objection_one_open_per_access"),
        ),
        migrations.AddConstraint(
            model_name="correctionrequest",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "submitted")),
                                               fields=("registry", "record_id", "field"),
                                               name="privacy_correction_one_submitted_per_field"),
        ),
        migrations.AlterField(
            model_name="consent",
            name="state",
            field=models.CharField(choices=[("unsigned", "unsigned"), ("signed", "signed"),
                                            ("unverified", "signed, signature not verified")],
                                   default="unsigned", max_length=16),
        ),
        migrations.AddField(
            model_name="signature",
            name="verified",
            field=models.BooleanField(default=False, help_text="The platform checked it against the signed payload.",
                                      verbose_name="verified"),
        ),
        migrations.RunPython(platform_signatures_are_verified, migrations.RunPython.noop),
    ]
