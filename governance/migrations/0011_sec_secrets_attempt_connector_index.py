# The connectors list shows each connector's health: its most recent delivery attempt.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('governance', '0010_sec_secrets_connector_encrypted_secrets'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='deliveryattempt',
            index=models.Index(fields=['connector', '-started_at'], name='attempt_connector_recent'),
        ),
    ]
