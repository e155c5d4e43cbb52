import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of subscriptions and deliveries."""

    dependencies = [
        ("exchange", "0003_usage"),
        ("catalog", "0001_initial"),
        ("identity", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Subscription',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='subscription number')),
                ('fields', models.JSONField(default=list, verbose_name='fields')),
                ('mode', models.CharField(choices=[('webhook', "webhook: the platform sends each event to the system's URL"), ('pull', 'pull: the system fetches events by sequence number')], default='webhook', max_length=16, verbose_name='delivery')),
                ('webhook_url', models.URLField(blank=True, max_length=500, verbose_name='webhook URL')),
                ('status', models.CharField(choices=[('active', 'active'), ('paused', 'paused'), ('cancelled', 'cancelled')], default='active', max_length=16, verbose_name='status')),
                ('status_reason', models.TextField(blank=True, verbose_name='reason of the last status change')),
                ('created_by_name', models.CharField(max_length=200, verbose_name='created by')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('records_seen', models.BigIntegerField(default=0, editable=False)),
                ('changes_seen', models.BigIntegerField(default=0, editable=False)),
                ('last_sequence', models.PositiveBigIntegerField(default=0, editable=False, verbose_name='last event number')),
                ('acknowledged_sequence', models.PositiveBigIntegerField(default=0, editable=False, verbose_name='acknowledged through')),
                ('collected_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='changes last collected')),
                ('held_because', models.CharField(blank=True, editable=False, help_text="The door's refusal code (grant_suspended, quota_exceeded, ...) while changes cannot be read.", max_length=32, verbose_name='waiting because')),
                ('client', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='identity.apiclient', verbose_name='receiving system')),
                ('consumer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='identity.department', verbose_name='consumer department')),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('grant', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='exchange.grant', verbose_name='grant relied on')),
                ('resource', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='subscriptions', to='catalog.resource', verbose_name='data resource')),
            ],
            options={
                'verbose_name': 'subscription',
                'verbose_name_plural': 'subscriptions',
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='Event',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('sequence', models.PositiveBigIntegerField(verbose_name='event number')),
                ('source', models.CharField(max_length=40)),
                ('action', models.CharField(choices=[('created', 'record created'), ('updated', 'record changed'), ('deleted', 'record deleted'), ('restored', 'record restored')], max_length=16, verbose_name='change')),
                ('record_id', models.BigIntegerField(verbose_name='record id')),
                ('payload', models.JSONField(verbose_name='payload, as masked for the subscriber')),
                ('created_at', models.DateTimeField(verbose_name='created at')),
                ('status', models.CharField(choices=[('pending', 'pending'), ('delivered', 'delivered'), ('dead', 'dead letter')], default='pending', max_length=16, verbose_name='status')),
                ('attempts', models.PositiveSmallIntegerField(default=0, verbose_name='attempts')),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='next attempt')),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True, verbose_name='last attempt')),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True, verbose_name='last HTTP status')),
                ('last_error', models.TextField(blank=True, verbose_name='last error')),
                ('delivered_at', models.DateTimeField(blank=True, null=True, verbose_name='delivered at')),
                ('dead_at', models.DateTimeField(blank=True, null=True, verbose_name='dead since')),
                ('replays', models.PositiveSmallIntegerField(default=0, verbose_name='replays')),
                ('subscription', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='events', to='exchange.subscription')),
            ],
            options={
                'verbose_name': 'subscription event',
                'verbose_name_plural': 'subscription events',
                'ordering': ['subscription', 'sequence'],
            },
        ),
        migrations.AddIndex(
            model_name='subscription',
            index=models.Index(fields=['status', 'resource'], name='subscription_status_resource'),
        ),
        migrations.AddIndex(
            model_name='event',
            index=models.Index(fields=['status', 'next_attempt_at'], name='subscription_event_due'),
        ),
        migrations.AddConstraint(
            model_name='event',
            constraint=models.UniqueConstraint(fields=('subscription', 'sequence'), name='subscription_event_sequence'),
        ),
        migrations.AddConstraint(
            model_name='event',
            constraint=models.UniqueConstraint(fields=('subscription', 'source'), name='subscription_event_source'),
        ),
    ]
