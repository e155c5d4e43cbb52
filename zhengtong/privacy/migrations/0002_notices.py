from django.db import migrations


class Migration(migrations.Migration):
    """Models of privacy notices and their acceptance."""

    dependencies = [("privacy", "0001_consent")]

    operations: list = []
