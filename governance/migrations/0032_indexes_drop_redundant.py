# Issue 19: fewer index entries per row written on the hot tables (a delivery batch writes
# every index of its memberships, grants, attempts, assignments and audit rows; an expiry
# those of its requests too). Drops indexes a composite one leads with, and makes the
# indexes of beat jobs and nullable keys partial, so rows outside them cost nothing.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def without_own_index(
    model_name: str, name: str, field: models.Field, *, table: str, column: str, index: str
) -> migrations.SeparateDatabaseAndState:
    """A foreign key loses the index Django gave it (a composite index leads with its
    column). Altering the field would also drop and re-add its constraint, which checks
    every row again (minutes at full size, with the tables locked): drop only the index."""
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"', reverse_sql=f'CREATE INDEX "{index}" ON "{table}" ("{column}")'
            )
        ],
    )


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0031_settle_outbox_request_state"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="assignmentrequest",
            name="request_stage_due",
        ),
        migrations.RemoveIndex(
            model_name="assignmentrequest",
            name="request_schedule_start",
        ),
        migrations.RemoveIndex(
            model_name="assignmentrequest",
            name="request_stage_remind",
        ),
        migrations.RemoveIndex(
            model_name="outboundemail",
            name="outbox_unsent",
        ),
        migrations.RemoveIndex(
            model_name="rolegrant",
            name="grant_work",
        ),
        without_own_index(
            "assignment",
            "package",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="assignments",
                to="governance.accesspackage",
            ),
            table="governance_assignment",
            column="package_id",
            index="governance_assignment_package_id_935ce759",
        ),
        without_own_index(
            "assignment",
            "target",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="assignments",
                to=settings.AUTH_USER_MODEL,
            ),
            table="governance_assignment",
            column="target_id",
            index="governance_assignment_target_id_9d1001e4",
        ),
        without_own_index(
            "assignmentrequest",
            "package",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="requests",
                to="governance.accesspackage",
            ),
            table="governance_assignmentrequest",
            column="package_id",
            index="governance_assignmentrequest_package_id_15800cf2",
        ),
        without_own_index(
            "assignmentrequest",
            "requestor",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="requests_made",
                to=settings.AUTH_USER_MODEL,
            ),
            table="governance_assignmentrequest",
            column="requestor_id",
            index="governance_assignmentrequest_requestor_id_fbe59f8b",
        ),
        without_own_index(
            "assignmentrequest",
            "target",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="requests_as_target",
                to=settings.AUTH_USER_MODEL,
            ),
            table="governance_assignmentrequest",
            column="target_id",
            index="governance_assignmentrequest_target_id_4e0d5776",
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(max_length=64),
        ),
        without_own_index(
            "auditevent",
            "actor",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
            table="governance_auditevent",
            column="actor_id",
            index="governance_auditevent_actor_id_7f2d60e0",
        ),
        without_own_index(
            "deliveryattempt",
            "connector",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="attempts",
                to="governance.connector",
            ),
            table="governance_deliveryattempt",
            column="connector_id",
            index="governance_deliveryattempt_connector_id_65cece63",
        ),
        without_own_index(
            "deliveryattempt",
            "request",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="delivery_attempts",
                to="governance.assignmentrequest",
            ),
            table="governance_deliveryattempt",
            column="request_id",
            index="governance_deliveryattempt_request_id_cf740b90",
        ),
        without_own_index(
            "groupmembership",
            "group",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="memberships",
                to="governance.directorygroup",
            ),
            table="governance_groupmembership",
            column="group_id",
            index="governance_groupmembership_group_id_01f4d807",
        ),
        without_own_index(
            "rolegrant",
            "assignment",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="grants",
                to="governance.assignment",
            ),
            table="governance_rolegrant",
            column="assignment_id",
            index="governance_rolegrant_assignment_id_65c00c5f",
        ),
        without_own_index(
            "rolegrant",
            "operation",
            models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="grants",
                to="governance.roleoperation",
            ),
            table="governance_rolegrant",
            column="operation_id",
            index="governance_rolegrant_operation_id_dd06acc5",
        ),
        without_own_index(
            "rolegrant",
            "resource_role",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="grants",
                to="governance.resourcerole",
            ),
            table="governance_rolegrant",
            column="resource_role_id",
            index="governance_rolegrant_resource_role_id_d6f2fb0a",
        ),
        without_own_index(
            "rolegrant",
            "subject",
            models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="role_grants",
                to=settings.AUTH_USER_MODEL,
            ),
            table="governance_rolegrant",
            column="subject_id",
            index="governance_rolegrant_subject_id_d903c6ec",
        ),
        migrations.AddIndex(
            model_name="assignmentrequest",
            index=models.Index(
                condition=models.Q(("requestor__isnull", False)), fields=["requestor"], name="request_requestor"
            ),
        ),
        migrations.AddIndex(
            model_name="assignmentrequest",
            index=models.Index(
                condition=models.Q(("state", "pendingApproval")), fields=["stage_due_at"], name="request_stage_due"
            ),
        ),
        migrations.AddIndex(
            model_name="assignmentrequest",
            index=models.Index(
                condition=models.Q(("stage_remind_at__isnull", False), ("state", "pendingApproval")),
                fields=["stage_remind_at"],
                name="request_stage_remind",
            ),
        ),
        migrations.AddIndex(
            model_name="assignmentrequest",
            index=models.Index(
                condition=models.Q(("state", "scheduled")), fields=["schedule_start"], name="request_schedule_start"
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["action"], name="audit_action", opclasses=["varchar_pattern_ops"]),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(condition=models.Q(("actor__isnull", False)), fields=["actor"], name="audit_actor"),
        ),
        migrations.AddIndex(
            model_name="outboundemail",
            index=models.Index(
                condition=models.Q(("sent_at__isnull", True)), fields=["created_at"], name="outbox_unsent"
            ),
        ),
        migrations.AddIndex(
            model_name="rolegrant",
            index=models.Index(
                condition=models.Q(("state__in", ["pending", "revoking"])),
                fields=["state", "next_attempt_at"],
                name="grant_work",
            ),
        ),
        migrations.AddIndex(
            model_name="rolegrant",
            index=models.Index(
                condition=models.Q(("operation__isnull", False)), fields=["operation"], name="grant_operation"
            ),
        ),
    ]
