import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of privacy notices and their acceptance."""

    dependencies = [("privacy", "0001_consent"), migrations.swappable_dependency(settings.AUTH_USER_MODEL)]

    operations: list = [
        migrations.CreateModel(
            name="NoticeVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(choices=[("privacy", "privacy notice"),
                                                   ("disclosure", "public-data disclosure policy")],
                                          max_length=16, verbose_name="kind")),
                ("version", models.PositiveIntegerField(verbose_name="version")),
                ("title", models.CharField(max_length=200, verbose_name="title")),
                ("body", models.TextField(verbose_name="text")),
                ("changes", models.TextField(verbose_name="what changed")),
                ("title_en", models.CharField(blank=True, max_length=200, verbose_name="English title")),
                ("body_en", models.TextField(blank=True, verbose_name="English text")),
                ("changes_en", models.TextField(blank=True, verbose_name="what changed, in English")),
                ("effective_on", models.DateField(verbose_name="effective from")),
                ("published_at", models.DateTimeField(verbose_name="published at")),
                ("published_by_name", models.CharField(max_length=200, verbose_name="published by")),
                ("published_by", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT,
                                                   related_name="+", to=settings.AUTH_USER_MODEL)),
            ],
            options={
                "verbose_name": "notice version",
                "verbose_name_plural": "notice versions",
                "ordering": ["kind", "-version"],
                "permissions": [("publish_noticeversion",
                                 "Publish a new version of the privacy notice or disclosure policy")],
                "indexes": [models.Index(fields=["kind", "effective_on"], name="privacy_notice_effective_idx")],
                "constraints": [models.UniqueConstraint(fields=("kind", "version"),
                                                        name="privacy_notice_version_unique")],
            },
        ),
        migrations.CreateModel(
            name="NoticeAcceptance",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("accepted_at", models.DateTimeField(verbose_name="accepted at")),
                ("client_address", models.GenericIPAddressField(blank=True, null=True, verbose_name="from address")),
                ("user", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE,
                                           related_name="notice_acceptances", to=settings.AUTH_USER_MODEL)),
                ("notice", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="acceptances",
                                             to="privacy.noticeversion")),
            ],
            options={
                "verbose_name": "acceptance of a notice",
                "verbose_name_plural": "acceptances of notices",
                "ordering": ["-accepted_at", "-pk"],
                "constraints": [models.UniqueConstraint(fields=("user", "notice"), name="privacy_acceptance_once")],
            },
        ),
    ]
