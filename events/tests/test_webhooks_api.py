"""The webhooks' API (SPEC §17): managed by the team's admins, read by its members, the secret shown
once; the delivery log and its attempts; redelivery; another team's rows never seen."""

import importlib
import re

import pytest
from django_tasks_db.models import DBTaskResult

from conftest import if_match
from events import channels
from events.models import Delivery, Webhook
from events.tests.conftest import work
from jobs import services

API = "/api/v1"


def create(client, receiver, **fields):
    body = {"name": "ci-bot", "url": receiver.url, "kinds": ["job_failed"], **fields}
    return client.post(f"{API}/webhooks", body, format="json")


@pytest.mark.django_db
def test_a_team_admin_creates_a_webhook_and_sees_its_secret_once(team_admin_client, user_client, team, receiver):
    response = create(team_admin_client, receiver)

    assert response.status_code == 201, response.content
    created = response.json()["webhook"]
    assert created["team_id"] == str(team.id) and created["kinds"] == ["job_failed"]
    assert created["secret"] == Webhook.objects.get().secret and len(created["secret"]) >= 32
    for client in (team_admin_client, user_client):
        read = client.get(f"{API}/webhooks/{created['id']}").json()["webhook"]
        assert "secret" not in read and read["url"] == receiver.url
        listed = client.get(f"{API}/webhooks").json()
        assert [w["id"] for w in listed["webhooks"]] == [created["id"]] and "secret" not in listed["webhooks"][0]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "why"),
    [
        ({"kinds": []}, "kinds"),
        ({"kinds": ["job_exploded"]}, "kinds"),
        ({"kinds": "job_failed"}, "kinds"),
        ({"url": "not a url"}, "url"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_webhook_is_a_clear_400(team_admin_client, receiver, fields, why):
    response = create(team_admin_client, receiver, **fields)

    assert response.status_code == 400 and response["Content-Type"].startswith("application/json")
    assert why in response.content.decode()
    assert not Webhook.objects.exists()


@pytest.mark.django_db
def test_only_the_teams_admins_manage_its_webhooks(user_client, other_admin, team_admin_client, receiver):
    from conftest import client_for

    assert create(user_client, receiver).status_code == 403
    hook = create(team_admin_client, receiver).json()["webhook"]
    rival = client_for(other_admin)

    assert rival.get(f"{API}/webhooks/{hook['id']}").status_code == 404
    assert rival.get(f"{API}/webhooks").json()["webhooks"] == []
    webhook = Webhook.objects.get()
    assert (
        user_client.put(f"{API}/webhooks/{hook['id']}", {"url": receiver.url}, **if_match(webhook)).status_code == 403
    )
    assert rival.delete(f"{API}/webhooks/{hook['id']}", **if_match(webhook)).status_code == 404


@pytest.mark.django_db
def test_a_webhook_is_updated_paused_and_deleted(team_admin_client, receiver):
    hook = create(team_admin_client, receiver).json()["webhook"]
    webhook = Webhook.objects.get()

    response = team_admin_client.put(
        f"{API}/webhooks/{hook['id']}",
        {"kinds": ["job_killed"], "state": "inactive"},
        format="json",
        **if_match(webhook),
    )
    assert response.status_code in (200, 204), response.content
    webhook.refresh_from_db()
    assert (webhook.kinds, webhook.state) == (["job_killed"], "inactive")
    assert team_admin_client.delete(f"{API}/webhooks/{hook['id']}", **if_match(webhook)).status_code == 204
    assert team_admin_client.get(f"{API}/webhooks/{hook['id']}").status_code == 404


@pytest.mark.django_db
def test_a_new_secret_is_shown_once_and_signs_the_next_deliveries(team_admin_client, job, receiver):
    hook = create(team_admin_client, receiver).json()["webhook"]
    webhook = Webhook.objects.get()

    response = team_admin_client.put(f"{API}/webhooks/{hook['id']}/secret", **if_match(webhook))
    assert response.status_code == 200, response.content
    secret = response.json()["webhook"]["secret"]
    assert secret != hook["secret"] and "secret" not in team_admin_client.get(f"{API}/webhooks/{hook['id']}").json()
    services.jobstate_create(job=job, status="failure")
    work()
    headers, body = receiver.requests[0]
    assert channels.verify(secret, headers["X-DCI-Signature"], body)
    assert not channels.verify(hook["secret"], headers["X-DCI-Signature"], body)


@pytest.mark.django_db
def test_the_delivery_log_its_attempts_and_a_redelivery(team_admin_client, user_client, other_admin, job, receiver):
    from conftest import client_for

    hook = create(team_admin_client, receiver).json()["webhook"]
    services.jobstate_create(job=job, status="failure")
    work()

    log = user_client.get(f"{API}/webhooks/{hook['id']}/deliveries").json()
    assert log["_meta"]["count"] == 1
    (delivery,) = log["deliveries"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 1, 200)
    attempts = user_client.get(f"{API}/deliveries/{delivery['id']}/attempts").json()["attempts"]
    assert [(a["number"], a["status_code"], a["error"]) for a in attempts] == [(1, 200, "")]
    assert user_client.get(f"{API}/deliveries?where=status:delivered").json()["_meta"]["count"] == 1
    assert user_client.get(f"{API}/deliveries/{delivery['id']}?embed=event").json()["delivery"]["event"]["kind"] == (
        "job_finished"
    )

    assert user_client.post(f"{API}/deliveries/{delivery['id']}/redeliver").status_code == 403
    rival = client_for(other_admin)
    assert rival.post(f"{API}/deliveries/{delivery['id']}/redeliver").status_code == 404
    assert rival.get(f"{API}/deliveries").json()["deliveries"] == []
    response = team_admin_client.post(f"{API}/deliveries/{delivery['id']}/redeliver")
    assert response.status_code == 202 and response.json()["delivery"]["status"] == "pending"
    work()
    assert len(receiver.requests) == 2 and len(set(receiver.keys())) == 1
    assert Delivery.objects.get().attempts == 2


@pytest.mark.django_db
def test_deliveries_are_made_by_events_only(team_admin_client):
    response = team_admin_client.post(f"{API}/deliveries", {}, format="json")

    assert response.status_code in (403, 405) and response["Content-Type"].startswith("application/json")


def test_the_triggers_enqueue_every_column_the_task_table_requires():
    """``dci_enqueue`` writes django_tasks_db's rows in SQL: the columns it names are those the
    pinned model requires (no database default), so an upgrade changing them fails here."""
    migration = importlib.import_module("events.migrations.0002_event_triggers")
    named = re.search(r"INSERT INTO django_tasks_database_dbtaskresult\s*\(([^)]*)\)", migration.CREATE).group(1)
    columns = {column.strip() for column in named.split(",")}
    required = {field.column for field in DBTaskResult._meta.concrete_fields if not field.null}

    assert columns == required
