# Applying: one open draft per applicant and item.
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("services", "0003_items")]
    operations = [
        migrations.AddConstraint(
            model_name="application",
            constraint=models.UniqueConstraint(condition=models.Q(("status", "draft")), fields=("applicant", "item"),
                                               name="services_application_one_draft"),
        ),
    ]
