# A slot for model changes of one area while the app is built in parallel; empty until that area needs one.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("services", "0002_engine")]
    operations: list = []
