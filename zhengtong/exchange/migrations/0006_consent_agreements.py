from django.db import migrations


class Migration(migrations.Migration):
    """Models of consent records tied to data agreements."""

    dependencies = [("exchange", "0005_objections")]

    operations: list = []
