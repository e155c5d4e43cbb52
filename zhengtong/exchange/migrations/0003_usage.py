import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of usage statistics."""

    dependencies = [("exchange", "0002_proxy"), ("catalog", "0001_initial"), ("identity", "0001_initial")]

    operations: list = [
        migrations.CreateModel(
            name='UsageDay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('day', models.DateField(verbose_name='day')),
                ('outcome', models.CharField(choices=[('ok', 'answered'), ('refused', 'refused'), ('error', 'error')], max_length=8, verbose_name='outcome')),
                ('reason', models.CharField(blank=True, max_length=40, verbose_name='reason')),
                ('calls', models.PositiveBigIntegerField(default=0, verbose_name='calls')),
                ('latency_us', models.PositiveBigIntegerField(default=0, verbose_name='total latency (µs)')),
                ('le_1ms', models.PositiveBigIntegerField(default=0)),
                ('le_2ms', models.PositiveBigIntegerField(default=0)),
                ('le_5ms', models.PositiveBigIntegerField(default=0)),
                ('le_10ms', models.PositiveBigIntegerField(default=0)),
                ('le_20ms', models.PositiveBigIntegerField(default=0)),
                ('le_50ms', models.PositiveBigIntegerField(default=0)),
                ('le_100ms', models.PositiveBigIntegerField(default=0)),
                ('le_200ms', models.PositiveBigIntegerField(default=0)),
                ('le_500ms', models.PositiveBigIntegerField(default=0)),
                ('le_1000ms', models.PositiveBigIntegerField(default=0)),
                ('le_2000ms', models.PositiveBigIntegerField(default=0)),
                ('le_5000ms', models.PositiveBigIntegerField(default=0)),
                ('le_10000ms', models.PositiveBigIntegerField(default=0)),
                ('le_inf', models.PositiveBigIntegerField(default=0)),
                ('consumer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='identity.department', verbose_name='consumer department')),
                ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='identity.department', verbose_name='provider department')),
                ('resource', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='catalog.resource', verbose_name='data resource')),
            ],
            options={
                'verbose_name': 'daily usage',
                'verbose_name_plural': 'daily usage',
                'permissions': [('view_usage', 'Can view usage statistics of the exchange')],
                'indexes': [models.Index(fields=['day', 'consumer'], name='exchange_usage_day_consumer'), models.Index(fields=['day', 'provider'], name='exchange_usage_day_provider')],
                'constraints': [models.UniqueConstraint(fields=('day', 'resource', 'consumer', 'provider', 'outcome', 'reason'), name='exchange_usageday_unique')],
            },
        ),
    ]
