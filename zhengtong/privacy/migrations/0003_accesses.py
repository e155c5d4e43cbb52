from django.db import migrations


class Migration(migrations.Migration):
    """Models of accesses hidden until a date."""

    dependencies = [("privacy", "0002_notices")]

    operations: list = []
