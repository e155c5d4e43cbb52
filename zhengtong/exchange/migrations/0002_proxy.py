from django.db import migrations


class Migration(migrations.Migration):
    """Models of proxied department APIs."""

    dependencies = [("exchange", "0001_initial")]

    operations: list = []
