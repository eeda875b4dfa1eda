"""Business rules of teams that span models."""


def team_archive(*, team, etag=None):
    """DELETE a team: its users (archived with it) can no longer log in, and its remotecis leave
    the API with it.

    Jobs and their results stay: they are the team's history, visible to super admins.
    """
    team.archive(etag=etag)
