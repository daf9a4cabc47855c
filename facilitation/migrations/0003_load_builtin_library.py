from django.db import migrations


def load(apps, schema_editor):
    from facilitation.loading import load_library

    load_library(
        Prompt=apps.get_model("facilitation", "Prompt"),
        Script=apps.get_model("facilitation", "Script"),
        ScriptStep=apps.get_model("facilitation", "ScriptStep"),
    )


class Migration(migrations.Migration):
    dependencies = [("facilitation", "0002_initial")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
