from django.db import migrations, models

import teams.models


def give_each_a_secret(apps, schema_editor):
    # One secret per row: a callable default would give every existing row the same one.
    RemoteCI = apps.get_model("teams", "RemoteCI")
    for remoteci in RemoteCI.objects.filter(api_secret="").only("pk").iterator():
        RemoteCI.objects.filter(pk=remoteci.pk).update(api_secret=teams.models.new_api_secret())


class Migration(migrations.Migration):
    dependencies = [("teams", "0005_login_failures_kept_by_axes")]

    operations = [
        migrations.AddField(
            model_name="remoteci",
            name="api_secret",
            field=models.CharField(default="", editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.RunPython(give_each_a_secret, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="remoteci",
            name="api_secret",
            field=models.CharField(default=teams.models.new_api_secret, editable=False, max_length=64),
        ),
    ]
