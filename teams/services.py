"""Business rules of teams that span models."""


def team_archive(*, team, etag=None):
    """DELETE a team: its users (archived with it) can no longer log in, and its remotecis leave
    the API with it.

    Jobs and their results stay: they are the team's history, visible to super admins.
    """
    team.archive(etag=etag)


def remoteci_update(*, remoteci, etag, changes):
    """PUT a remoteci (the API) or change its state (the admin): the etag check and the write are
    one conditional UPDATE, and the row takes a new etag. Returns it."""
    return remoteci.update_with_etag(etag, changes)
