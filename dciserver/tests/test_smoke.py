def test_it_answers_the_api_root(anonymous_client, db):
    response = anonymous_client.get("/api/v1/")
    assert response.status_code == 200
    assert response.json() == {"_status": "OK", "message": "Distributed CI."}


def test_it_lists_teams_for_a_super_admin(admin_client, team):
    response = admin_client.get("/api/v1/teams")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["_meta"]["count"] == 2
    assert {t["name"] for t in body["teams"]} == {"admin", "lab"}
