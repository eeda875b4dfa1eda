"""Load a small demo data set. Idempotent: running it twice changes nothing."""

from django.core.management.base import BaseCommand
from django.db import transaction

from jobs.models import Component, JobDefinition, Topic, TopicSubscription
from teams.models import ADMIN_TEAM_NAME, RemoteCI, Team, User


def ensure_user(name, password, team, role):
    user = User.objects.live().filter(name=name).first()
    if user is None:
        user = User.objects.create_user(name, password, team=team, role=role)
    return user


class Command(BaseCommand):
    help = "Load demo data: super admin admin/admin, a demo team with an admin and a user, a remoteci, a topic."

    @transaction.atomic
    def handle(self, *args, **options):
        admin_team, _ = Team.objects.live().get_or_create(name=ADMIN_TEAM_NAME)
        ensure_user("admin", "admin", admin_team, User.Role.ADMIN)
        demo, _ = Team.objects.live().get_or_create(name="demo")
        ensure_user("demo-admin", "demo-admin", demo, User.Role.ADMIN)
        ensure_user("demo-user", "demo-user", demo, User.Role.USER)
        RemoteCI.objects.live().get_or_create(name="demo-remoteci", team=demo, defaults={"data": {"site": "demo"}})
        topic, _ = Topic.objects.live().get_or_create(
            name="RHEL-9", defaults={"component_types": ["compose", "ansible-playbooks"]}
        )
        TopicSubscription.objects.get_or_create(topic=topic, team=demo)
        for name, ctype in (("RHEL-9.4-20260101.0", "compose"), ("dci-ansible-1.0.0", "ansible-playbooks")):
            Component.objects.live().get_or_create(name=name, topic=topic, defaults={"type": ctype})
        JobDefinition.objects.live().get_or_create(
            name="rhel-9-install",
            topic=topic,
            defaults={"component_types": ["compose", "ansible-playbooks"], "priority": 10},
        )
        self.stdout.write(
            self.style.SUCCESS(
                "Demo data ready: admin/admin (super admin), demo-admin/demo-admin, demo-user/demo-user."
            )
        )
