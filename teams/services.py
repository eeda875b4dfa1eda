"""Business rules of teams that span models."""

from django.db import transaction
from django.utils import timezone

from dciserver.api.viewsets import archive
from teams.models import RemoteCI, User


@transaction.atomic(savepoint=False)
def team_archive(*, team, etag=None):
    """DELETE a team: its users can no longer log in and its remotecis leave the API with it.

    Jobs and their results stay: they are the team's history, visible to super admins.
    """
    archive(team, etag)
    now = timezone.now()
    User.objects.filter(team=team, archived_at__isnull=True).update(archived_at=now)
    RemoteCI.objects.filter(team=team, archived_at__isnull=True).update(archived_at=now)
