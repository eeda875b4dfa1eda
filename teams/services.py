"""Business rules of teams that span models."""

from teams.models import new_api_secret


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


def api_secret_rotate(*, agent, etag=None):
    """A new ``api_secret`` for ``agent`` (a remoteci or a feeder: the API's ``PUT .../api_secret``,
    the admin's action): the old one is refused from the next request on, as every signature is
    checked against the row. With ``etag``, only if the row still carries it. Returns the new etag."""
    return agent.update_with_etag(agent.etag if etag is None else etag, {"api_secret": new_api_secret()})
