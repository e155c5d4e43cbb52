from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of consent records tied to data agreements."""

    dependencies = [("exchange", "0005_objections")]

    operations = [
        migrations.AddField(
            model_name='consentrecord',
            name='agreement_ref',
            field=models.CharField(blank=True, db_index=True, help_text='The id of the data agreement consented to, if any.', max_length=36, verbose_name='data agreement'),
        ),
        migrations.AddField(
            model_name='consentrecord',
            name='agreement_version',
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name='agreement version'),
        ),
    ]
