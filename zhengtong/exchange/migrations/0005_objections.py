import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of data objections."""

    dependencies = [
        ("exchange", "0004_subscriptions"),
        ("catalog", "0001_initial"),
        ("identity", "0001_initial"),
        ("registries", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DataObjection',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='objection number')),
                ('field', models.CharField(max_length=64, verbose_name='field')),
                ('proposed_value', models.TextField(verbose_name='the value believed right')),
                ('description', models.TextField(verbose_name='why the value is wrong')),
                ('evidence_name', models.CharField(blank=True, max_length=255, verbose_name='evidence file name')),
                ('evidence_type', models.CharField(blank=True, max_length=100, verbose_name='evidence file type')),
                ('evidence_size', models.PositiveIntegerField(blank=True, null=True, verbose_name='evidence file size')),
                ('evidence_digest', models.CharField(blank=True, editable=False, max_length=64)),
                ('raised_by_name', models.CharField(max_length=200, verbose_name='raised by')),
                ('raised_at', models.DateTimeField(verbose_name='raised at')),
                ('status', models.CharField(choices=[('open', 'awaiting the provider'), ('corrected', 'corrected by the provider'), ('answered', 'answered: the provider confirms the value'), ('accepted', 'answer accepted'), ('escalated', 'escalated to the governance office'), ('settled', 'settled by the governance office')], default='open', max_length=16, verbose_name='status')),
                ('answer_due', models.DateField(verbose_name="provider's answer due")),
                ('must_correct', models.BooleanField(default=False, verbose_name='the office ruled that the value must be corrected')),
                ('responded_at', models.DateTimeField(blank=True, null=True, verbose_name='answered at')),
                ('responded_by_name', models.CharField(blank=True, max_length=200, verbose_name='answered by')),
                ('response', models.TextField(blank=True, verbose_name="the provider's answer")),
                ('corrected_version', models.PositiveIntegerField(blank=True, null=True, verbose_name='record version after the correction')),
                ('accepted_at', models.DateTimeField(blank=True, null=True, verbose_name='accepted at')),
                ('escalated_at', models.DateTimeField(blank=True, null=True, verbose_name='escalated at')),
                ('escalation_grounds', models.TextField(blank=True, verbose_name='grounds of the escalation')),
                ('settle_due', models.DateField(blank=True, null=True, verbose_name='settlement due')),
                ('settled_at', models.DateTimeField(blank=True, null=True, verbose_name='settled at')),
                ('settled_by_name', models.CharField(blank=True, max_length=200, verbose_name='settled by')),
                ('settlement', models.TextField(blank=True, verbose_name='settlement')),
                ('reminded_for', models.DateField(blank=True, editable=False, help_text='The deadline a reminder was last sent for.', null=True)),
                ('overdue_notice_for', models.DateField(blank=True, editable=False, help_text='The deadline an overdue notice was last sent for.', null=True)),
                ('consumer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='data_objections', to='identity.department', verbose_name='consumer department')),
                ('raised_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('record', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registries.record', verbose_name='record')),
                ('registry', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='registries.registry', verbose_name='registry')),
                ('resource', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='data_objections', to='catalog.resource', verbose_name='data resource')),
            ],
            options={
                'verbose_name': 'data objection',
                'verbose_name_plural': 'data objections',
                'ordering': ['-raised_at', '-pk'],
                'permissions': [('answer_dataobjection', "Correct or answer data objections to the department's resources"), ('settle_dataobjection', 'Settle escalated data objections')],
                'indexes': [models.Index(fields=['status', 'answer_due'], name='exchange_da_status_3b8299_idx'), models.Index(fields=['status', 'settle_due'], name='exchange_da_status_5bd6ee_idx')],
            },
        ),
    ]
