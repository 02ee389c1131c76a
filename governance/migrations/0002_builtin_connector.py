from django.db import migrations

BUILTIN_NAME = "Built-in directory"


def create_builtin_connector(apps, schema_editor):
    Connector = apps.get_model("governance", "Connector")
    if not Connector.objects.filter(kind="builtin").exists():
        Connector.objects.create(display_name=BUILTIN_NAME, kind="builtin", config={}, enabled=True)


class Migration(migrations.Migration):
    dependencies = [("governance", "0001_initial")]

    operations = [migrations.RunPython(create_builtin_connector, migrations.RunPython.noop)]
