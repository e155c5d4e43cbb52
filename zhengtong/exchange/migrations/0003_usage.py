from django.db import migrations


class Migration(migrations.Migration):
    """Models of usage statistics."""

    dependencies = [("exchange", "0002_proxy")]

    operations: list = []
