from django.db import migrations


class Migration(migrations.Migration):
    """Models of data agreements and consent."""

    initial = True

    dependencies = [("exchange", "0006_consent_agreements"), ("identity", "0001_initial")]

    operations: list = []
