from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0030_perf_csv_policy_open_scope"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboundemail",
            name="request_state",
            field=models.CharField(blank=True, db_default="", default="", max_length=24),
        ),
    ]
