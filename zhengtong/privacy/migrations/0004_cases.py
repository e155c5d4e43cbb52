import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    """Models of objections and correction requests."""

    dependencies = [
        ("privacy", "0003_accesses"),
        ("identity", "0001_initial"),
        ("registries", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Objection',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='objection number')),
                ('audit_entry_id', models.BigIntegerField(db_index=True, verbose_name='audit entry')),
                ('accessed_at', models.DateTimeField(verbose_name='time of the access')),
                ('accessor_department', models.CharField(blank=True, max_length=32, verbose_name='department code')),
                ('accessor_department_name', models.CharField(blank=True, max_length=200, verbose_name='department')),
                ('access_action', models.CharField(max_length=100, verbose_name='kind of access')),
                ('access_purpose', models.CharField(blank=True, max_length=200, verbose_name='stated purpose')),
                ('access_legal_basis', models.CharField(blank=True, max_length=200, verbose_name='legal basis')),
                ('access_object', models.CharField(blank=True, max_length=100, verbose_name='data accessed')),
                ('reason', models.TextField(verbose_name='reason of the objection')),
                ('status', models.CharField(choices=[('open', 'open, with the data governance office'), ('upheld', 'answered: objection upheld'), ('dismissed', 'answered: objection dismissed')], default='open', max_length=16, verbose_name='status')),
                ('submitted_at', models.DateTimeField(verbose_name='submitted at')),
                ('due', models.DateField(verbose_name='answer due')),
                ('due_provisional', models.BooleanField(default=False, editable=False)),
                ('answered_at', models.DateTimeField(blank=True, null=True, verbose_name='answered at')),
                ('answered_by_name', models.CharField(blank=True, max_length=200, verbose_name='answered by')),
                ('answer', models.TextField(blank=True, verbose_name="the office's answer")),
                ('reminded_for', models.DateField(blank=True, editable=False, help_text='The deadline a reminder was last sent for.', null=True)),
                ('overdue_notice_for', models.DateField(blank=True, editable=False, help_text='The deadline an overdue notice was last sent for.', null=True)),
                ('citizen', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='objections', to=settings.AUTH_USER_MODEL, verbose_name='citizen')),
            ],
            options={
                'verbose_name': 'objection to an access',
                'verbose_name_plural': 'objections to accesses',
                'ordering': ['-submitted_at', '-pk'],
                'permissions': [('answer_objection', "Answer citizens' objections to accesses to their data")],
            },
        ),
        migrations.CreateModel(
            name='CorrectionRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.CharField(max_length=32, unique=True, verbose_name='request number')),
                ('record_id', models.BigIntegerField(db_index=True, verbose_name='record')),
                ('field', models.CharField(max_length=64, verbose_name='field')),
                ('field_label', models.CharField(max_length=200, verbose_name='field label')),
                ('requested_value', models.TextField(verbose_name='the value the citizen says is right')),
                ('reason', models.TextField(verbose_name='reason')),
                ('evidence_name', models.CharField(max_length=255, verbose_name='evidence file name')),
                ('evidence_type', models.CharField(max_length=100, verbose_name='evidence file type')),
                ('evidence_size', models.PositiveIntegerField(verbose_name='evidence file size')),
                ('evidence_digest', models.CharField(editable=False, max_length=64)),
                ('status', models.CharField(choices=[('submitted', 'submitted, with the provider department'), ('accepted', 'accepted: the record is corrected'), ('refused', 'refused')], default='submitted', max_length=16, verbose_name='status')),
                ('submitted_at', models.DateTimeField(verbose_name='submitted at')),
                ('due', models.DateField(verbose_name='decision due')),
                ('due_provisional', models.BooleanField(default=False, editable=False)),
                ('decided_at', models.DateTimeField(blank=True, null=True, verbose_name='decided at')),
                ('decided_by_name', models.CharField(blank=True, max_length=200, verbose_name='decided by')),
                ('refusal_reason', models.TextField(blank=True, verbose_name='reason for refusal')),
                ('record_version', models.PositiveIntegerField(blank=True, null=True, verbose_name='record version after the correction')),
                ('reminded_for', models.DateField(blank=True, editable=False, help_text='The deadline a reminder was last sent for.', null=True)),
                ('overdue_notice_for', models.DateField(blank=True, editable=False, help_text='The deadline an overdue notice was last sent for.', null=True)),
                ('citizen', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='corrections', to=settings.AUTH_USER_MODEL, verbose_name='citizen')),
                ('provider', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='correction_requests', to='identity.department', verbose_name='provider department')),
                ('registry', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='correction_requests', to='registries.registry', verbose_name='registry')),
            ],
            options={
                'verbose_name': 'correction request',
                'verbose_name_plural': 'correction requests',
                'ordering': ['-submitted_at', '-pk'],
                'indexes': [models.Index(fields=['status', 'due'], name='privacy_cor_status_546f53_idx'), models.Index(fields=['registry', 'record_id'], name='privacy_cor_registr_b50126_idx')],
            },
        ),
        migrations.AddIndex(
            model_name='objection',
            index=models.Index(fields=['status', 'due'], name='privacy_obj_status_213356_idx'),
        ),
    ]
