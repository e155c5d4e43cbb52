from django.db import migrations


class Migration(migrations.Migration):
    """Models of data objections."""

    dependencies = [("exchange", "0004_subscriptions")]

    operations: list = []
