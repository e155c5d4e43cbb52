# The workbench: an index that serves the queue page in its order (active tasks of a department by due date).
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("services", "0004_applications")]
    operations = [
        migrations.AddIndex(
            model_name="worktask",
            index=models.Index(condition=models.Q(("status__in", ["open", "claimed"])),
                               fields=["department", "due", "created_at", "id"], name="services_task_queue"),
        ),
    ]
