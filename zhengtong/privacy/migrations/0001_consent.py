import django.db.models.deletion
from django.db import migrations, models

import zhengtong.privacy.models.consent


class Migration(migrations.Migration):
    """Models of data agreements and consent."""

    initial = True

    dependencies = [("exchange", "0006_consent_agreements"), ("identity", "0001_initial"), ("catalog", "0001_initial")]

    operations = [
        migrations.CreateModel(
            name='Policy',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('name', models.CharField(max_length=200, verbose_name='name')),
                ('version', models.PositiveIntegerField(default=1, verbose_name='version')),
                ('url', models.URLField(max_length=500, verbose_name='address of this version')),
                ('jurisdiction', models.CharField(blank=True, max_length=200, verbose_name='jurisdiction')),
                ('industry_sector', models.CharField(blank=True, max_length=200, verbose_name='sector')),
                ('data_retention_days', models.PositiveIntegerField(blank=True, null=True, verbose_name='data retention (days)')),
                ('geographic_restriction', models.CharField(blank=True, max_length=200, verbose_name='geographic restriction')),
                ('storage_location', models.CharField(blank=True, max_length=200, verbose_name='storage location')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('deleted_at', models.DateTimeField(blank=True, editable=False, null=True)),
            ],
            options={
                'verbose_name': 'data policy',
                'verbose_name_plural': 'data policies',
                'ordering': ['name', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='DataAgreement',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('purpose', models.CharField(max_length=200, verbose_name='purpose')),
                ('purpose_description', models.TextField(blank=True, verbose_name='what the data is used for')),
                ('lawful_basis', models.CharField(choices=[('consent', 'consent of the data subject'), ('legal_obligation', 'legal obligation'), ('contract', 'contract with the data subject'), ('vital_interest', 'vital interest'), ('public_task', 'public task'), ('legitimate_interest', 'legitimate interest')], default='consent', max_length=24, verbose_name='lawful basis')),
                ('data_elements', models.JSONField(default=list, help_text='The fields of the resource the consumer receives.', verbose_name='data elements')),
                ('consent_days', models.PositiveIntegerField(blank=True, help_text='Empty: until withdrawn.', null=True, verbose_name='consent valid for (days)')),
                ('retention_days', models.PositiveIntegerField(blank=True, null=True, verbose_name='data kept for (days)')),
                ('dpia', models.TextField(blank=True, verbose_name='data protection impact assessment')),
                ('data_use', models.CharField(blank=True, max_length=32, verbose_name='data use')),
                ('forgettable', models.BooleanField(default=False, help_text='A withdrawn consent to it may be deleted.', verbose_name='forgettable')),
                ('active', models.BooleanField(default=True, verbose_name='open to consent')),
                ('version', models.PositiveIntegerField(default=1, verbose_name='version')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('deleted_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='withdrawn from use at')),
                ('consumer', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='data_agreements', to='identity.department', verbose_name='consumer department')),
                ('resource', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='data_agreements', to='catalog.resource', verbose_name='data resource')),
                ('policy', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='data_agreements', to='privacy.policy', verbose_name='policy')),
            ],
            options={
                'verbose_name': 'data agreement',
                'verbose_name_plural': 'data agreements',
                'ordering': ['consumer__code', 'purpose', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='Individual',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('subject_hash', models.CharField(max_length=64, unique=True)),
                ('identity_provider_id', models.CharField(blank=True, max_length=200)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('citizen', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='consent_individual', to='identity.citizen')),
            ],
            options={
                'verbose_name': 'individual',
                'verbose_name_plural': 'individuals',
                'ordering': ['pk'],
            },
        ),
        migrations.CreateModel(
            name='Revision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('schema_name', models.CharField(max_length=32)),
                ('object_id', models.CharField(max_length=36)),
                ('serialized_snapshot', models.TextField()),
                ('serialized_hash', models.CharField(max_length=64)),
                ('hash_algorithm', models.CharField(max_length=8)),
                ('timestamp', models.DateTimeField()),
                ('authorized_by_other', models.CharField(blank=True, max_length=200)),
                ('predecessor_hash', models.CharField(blank=True, max_length=64)),
                ('authorized_by_individual', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='privacy.individual')),
                ('successor', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='predecessor', to='privacy.revision')),
            ],
            options={
                'verbose_name': 'revision',
                'verbose_name_plural': 'revisions',
                'ordering': ['timestamp', 'pk'],
            },
        ),
        migrations.CreateModel(
            name='Consent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('agreement_version', models.PositiveIntegerField()),
                ('opt_in', models.BooleanField(default=True)),
                ('state', models.CharField(choices=[('unsigned', 'unsigned'), ('signed', 'signed')], default='unsigned', max_length=16)),
                ('given_at', models.DateTimeField(blank=True, null=True, verbose_name='given at')),
                ('expires_at', models.DateTimeField(blank=True, null=True, verbose_name='expires at')),
                ('withdrawn_at', models.DateTimeField(blank=True, null=True, verbose_name='withdrawn at')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('exchange_record', models.OneToOneField(blank=True, help_text="The exchange's record the door checks, while opted in.", null=True, on_delete=django.db.models.deletion.PROTECT, related_name='agreement_consent', to='exchange.consentrecord')),
                ('agreement', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='privacy.dataagreement')),
                ('individual', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='consents', to='privacy.individual')),
                ('agreement_revision', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='privacy.revision')),
            ],
            options={
                'verbose_name': 'consent',
                'verbose_name_plural': 'consents',
                'ordering': ['-created_at', '-pk'],
            },
        ),
        migrations.CreateModel(
            name='Signature',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('public_id', models.CharField(default=zhengtong.privacy.models.consent.new_id, editable=False, max_length=36, unique=True)),
                ('payload', models.TextField()),
                ('signature', models.TextField(blank=True)),
                ('verification_method', models.CharField(max_length=100)),
                ('verification_payload', models.TextField()),
                ('verification_payload_hash', models.CharField(max_length=64)),
                ('verification_artifact', models.TextField(blank=True)),
                ('verification_signed_by', models.CharField(max_length=200)),
                ('verification_signed_as', models.CharField(default='individual', max_length=16)),
                ('verification_jws_header', models.TextField(blank=True)),
                ('timestamp', models.DateTimeField()),
                ('object_type', models.CharField(default='revision', max_length=16)),
                ('object_reference', models.CharField(max_length=36)),
                ('consent', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='signatures', to='privacy.consent')),
            ],
            options={
                'verbose_name': 'signature',
                'verbose_name_plural': 'signatures',
                'ordering': ['timestamp', 'pk'],
            },
        ),
        migrations.AddIndex(
            model_name='revision',
            index=models.Index(fields=['schema_name', 'object_id'], name='privacy_rev_schema__abccdb_idx'),
        ),
        migrations.AddConstraint(
            model_name='consent',
            constraint=models.UniqueConstraint(fields=('agreement_revision', 'individual'), name='privacy_consent_one_per_revision'),
        ),
    ]
