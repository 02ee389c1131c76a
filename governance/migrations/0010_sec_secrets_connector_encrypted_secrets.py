# Connector secrets are stored encrypted (governance/encryption.py). Existing connectors keep
# their config's *_env reference; the runtime reads it only for PORTCULLIS_CONNECTOR_*
# variables, and `manage.py import_connector_secrets` stores those values (README
# "Connector secrets and outbound calls"): the environment is not read at migrate time.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0009_scale_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='connector',
            name='encrypted_secrets',
            field=models.TextField(blank=True, default='', editable=False),
        ),
    ]
