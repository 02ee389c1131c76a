from django.db import migrations, models

# The justifications the services wrote before the reason was recorded as a fact.
REVIEW_TEXT = "Removed by an access review."
EXPIRY_TEXT = "The assignment reached its end date."


def record_reasons(apps, schema_editor):
    """Existing systemRemove requests get the reason their justification stood for: the two
    fixed texts of an access review and of expiry; any other text was a person who left."""
    requests = apps.get_model("governance", "AssignmentRequest").objects.filter(request_type="systemRemove")
    requests.filter(justification=REVIEW_TEXT).update(removal_reason="review")
    requests.filter(justification=EXPIRY_TEXT).update(removal_reason="expiry")
    requests.filter(removal_reason="").update(removal_reason="personLeft")


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0028_reports_grant_holders"),
    ]

    operations = [
        migrations.AddField(
            model_name="assignmentrequest",
            name="removal_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("expiry", "Reached its end date"),
                    ("review", "Removed by an access review"),
                    ("personLeft", "The person left"),
                ],
                default="",
                db_default="",
                max_length=16,
            ),
        ),
        migrations.RunPython(record_reasons, migrations.RunPython.noop, elidable=True),
    ]
