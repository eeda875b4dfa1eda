import pytest

from conftest import client_for

pytestmark = pytest.mark.django_db


def test_deleting_a_team_archives_its_users_and_remotecis(admin_client, team, user, remoteci):
    response = admin_client.delete(f"/api/v1/teams/{team.id}", HTTP_IF_MATCH=team.etag)

    assert response.status_code == 204
    assert client_for(user).get("/api/v1/identity").status_code == 401
    assert admin_client.get(f"/api/v1/remotecis/{remoteci.id}").status_code == 404
    user.refresh_from_db()
    assert user.archived_at is not None
