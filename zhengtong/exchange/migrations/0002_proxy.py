from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of proxied department APIs: each upstream's circuit breaker and failure counters."""

    dependencies = [("exchange", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name='Upstream',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('origin', models.CharField(help_text="scheme://host:port of the department's API.", max_length=300, unique=True, verbose_name='origin')),
                ('state', models.CharField(choices=[('closed', 'closed: calls go through'), ('open', 'open: calls are refused until the cool-down ends'), ('half_open', 'half-open: one trial call is under way')], default='closed', max_length=16, verbose_name='circuit')),
                ('consecutive_failures', models.PositiveIntegerField(default=0, verbose_name='failures in a row')),
                ('opened_at', models.DateTimeField(blank=True, null=True, verbose_name='circuit opened at')),
                ('trial_started_at', models.DateTimeField(blank=True, null=True, verbose_name='trial call started at')),
                ('calls', models.PositiveBigIntegerField(default=0, verbose_name='calls answered')),
                ('failures', models.PositiveBigIntegerField(default=0, help_text='Errors and timeouts, each call counted once.', verbose_name='failed calls')),
                ('timeouts', models.PositiveBigIntegerField(default=0, verbose_name='timed-out calls')),
                ('rejected', models.PositiveBigIntegerField(default=0, verbose_name='calls refused by the open circuit')),
                ('retries', models.PositiveBigIntegerField(default=0, verbose_name='retried attempts')),
                ('last_error', models.CharField(blank=True, max_length=500, verbose_name='last error')),
                ('last_error_code', models.CharField(blank=True, max_length=32, verbose_name='code of the last error')),
                ('last_error_at', models.DateTimeField(blank=True, null=True, verbose_name='last error at')),
                ('last_success_at', models.DateTimeField(blank=True, null=True, verbose_name='last answered at')),
            ],
            options={
                'verbose_name': 'upstream API',
                'verbose_name_plural': 'upstream APIs',
                'ordering': ['origin'],
            },
        ),
    ]
