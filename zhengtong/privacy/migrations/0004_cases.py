from django.db import migrations


class Migration(migrations.Migration):
    """Models of objections and correction requests."""

    dependencies = [("privacy", "0003_accesses")]

    operations: list = []
