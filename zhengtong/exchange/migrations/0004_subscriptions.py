from django.db import migrations


class Migration(migrations.Migration):
    """Models of subscriptions and deliveries."""

    dependencies = [("exchange", "0003_usage")]

    operations: list = []
