import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of accesses hidden until a date."""

    dependencies = [
        ("privacy", "0002_notices"),
        ("audit", "0002_append_only_triggers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="HiddenAccess",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hidden_until", models.DateField(verbose_name="hidden until")),
                ("reason", models.TextField(verbose_name="reason")),
                ("case_reference", models.CharField(max_length=100, verbose_name="case reference")),
                ("hidden_by_name", models.CharField(max_length=200, verbose_name="hidden by")),
                ("hidden_by_department", models.CharField(blank=True, max_length=32, verbose_name="department")),
                ("hidden_by_roles", models.CharField(blank=True, max_length=200, verbose_name="roles")),
                ("hidden_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="hidden at")),
                ("audit_entry_id", models.BigIntegerField(verbose_name="audit entry of the hiding")),
                ("entry", models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING,
                                            related_name="+", to="audit.auditentry", verbose_name="access")),
                ("hidden_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+",
                                                to=settings.AUTH_USER_MODEL, verbose_name="hidden by")),
            ],
            options={
                "verbose_name": "hidden access",
                "verbose_name_plural": "hidden accesses",
                "ordering": ["-hidden_at", "-id"],
                "indexes": [models.Index(fields=["entry", "hidden_until"], name="privacy_hid_entry_i_310d11_idx")],
            },
        ),
    ]
