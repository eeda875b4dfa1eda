from django.db import migrations

ADMIN_TEAM_NAME = "admin"


def create_admin_team(apps, schema_editor):
    """Members of the team named ``admin`` are dciserver's super admins."""
    Team = apps.get_model("teams", "Team")
    if not Team.objects.filter(name=ADMIN_TEAM_NAME, archived_at__isnull=True).exists():
        Team.objects.create(name=ADMIN_TEAM_NAME)


class Migration(migrations.Migration):
    dependencies = [("teams", "0001_initial")]

    operations = [migrations.RunPython(create_admin_team, migrations.RunPython.noop)]
