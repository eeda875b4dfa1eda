"""People following jobs (SPEC §17) at the 2025 server's routes: ``/topics/<id>/notifications``,
``/topics/<id>/notifications/users``, ``/topics/notifications``, ``/remotecis/<id>/users[/<uid>]``."""

import pytest

from conftest import SignedClient, client_for
from dciserver.models import AuditLog
from events.models import RemoteciFollower, TopicFollower

pytestmark = pytest.mark.django_db

API = "/api/v1"


def names(response, plural="users"):
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["_meta"]["count"] == len(body[plural])
    return sorted(row["name"] for row in body[plural])


@pytest.fixture
def shared_topic(topic, other_team):
    """The lab's topic, which the rival team is subscribed to too."""
    from jobs.models import TopicSubscription

    TopicSubscription.objects.create(topic=topic, team=other_team)
    return topic


@pytest.fixture
def client_of():
    return client_for


def test_a_user_follows_a_topic_and_is_listed_among_its_followers(user_client, user, topic):
    response = user_client.post(f"{API}/topics/{topic.id}/notifications")

    assert response.status_code == 201, response.content
    assert response.json() == {"user_id": str(user.id), "topic_id": str(topic.id)}
    followers = user_client.get(f"{API}/topics/{topic.id}/notifications/users")
    assert names(followers) == ["lab-user"]
    assert "password" not in followers.json()["users"][0]
    assert names(user_client.get(f"{API}/topics/notifications"), "topics") == ["RHEL-9"]


def test_following_twice_is_following_once(user_client, topic, remoteci):
    for _ in range(2):
        assert user_client.post(f"{API}/topics/{topic.id}/notifications").status_code == 201
        assert user_client.post(f"{API}/remotecis/{remoteci.id}/users").status_code == 201

    assert TopicFollower.objects.count() == 1
    assert RemoteciFollower.objects.count() == 1


def test_a_user_unfollows_a_topic_and_unfollowing_again_is_no_error(user_client, user, colleague, topic):
    TopicFollower.objects.create(topic=topic, user=user)
    TopicFollower.objects.create(topic=topic, user=colleague)

    assert user_client.delete(f"{API}/topics/{topic.id}/notifications").status_code == 204
    assert user_client.delete(f"{API}/topics/{topic.id}/notifications").status_code == 204

    assert list(TopicFollower.objects.values_list("user__name", flat=True)) == ["lab-colleague"]
    assert names(user_client.get(f"{API}/topics/notifications"), "topics") == []


def test_the_topics_followed_are_the_callers_own(user_client, client_of, colleague, topic, other_topic):
    TopicFollower.objects.create(topic=topic, user=colleague)

    assert names(user_client.get(f"{API}/topics/notifications"), "topics") == []
    assert names(client_of(colleague).get(f"{API}/topics/notifications"), "topics") == ["RHEL-9"]


def test_a_topic_named_notifications_does_not_hide_the_followed_topics(user_client, user, topic):
    from jobs.models import Topic, TopicSubscription

    TopicSubscription.objects.create(topic=Topic.objects.create(name="notifications"), team=user.team)
    TopicFollower.objects.create(topic=topic, user=user)

    assert names(user_client.get(f"{API}/topics/notifications/"), "topics") == ["RHEL-9"]
    assert user_client.get(f"{API}/topics/{topic.id}").json()["topic"]["name"] == "RHEL-9"


def test_a_topic_the_caller_cannot_read_is_not_found(user_client, user, other_topic, other_user):
    TopicFollower.objects.create(topic=other_topic, user=other_user)
    base = f"{API}/topics/{other_topic.id}/notifications"

    for response in (user_client.post(base), user_client.delete(base), user_client.get(f"{base}/users")):
        assert response.status_code == 404, response.content
    assert not TopicFollower.objects.filter(user=user).exists()


def test_followers_are_shown_as_the_caller_sees_users(client_of, user, other_user, super_admin, shared_topic):
    for follower in (user, other_user):
        assert client_of(follower).post(f"{API}/topics/{shared_topic.id}/notifications").status_code == 201
    path = f"{API}/topics/{shared_topic.id}/notifications/users"

    assert names(client_of(user).get(path)) == ["lab-user"]
    assert names(client_of(other_user).get(path)) == ["rival-user"]
    assert names(client_of(super_admin).get(path)) == ["lab-user", "rival-user"]


def test_the_followers_list_speaks_the_list_language(team_admin_client, user, colleague, team_admin, remoteci):
    for follower in (user, colleague, team_admin):
        RemoteciFollower.objects.create(remoteci=remoteci, user=follower)
    path = f"{API}/remotecis/{remoteci.id}/users"

    assert names(team_admin_client.get(path, {"where": "role:user"})) == ["lab-colleague", "lab-user"]
    page = team_admin_client.get(path, {"sort": "-name", "limit": 1, "offset": 1}).json()
    assert ([row["name"] for row in page["users"]], page["_meta"]["count"]) == (["lab-colleague"], 3)
    assert team_admin_client.get(path, {"embed": "team"}).json()["users"][0]["team"]["name"] == "lab"
    assert team_admin_client.get(path, {"where": "password:x"}).status_code == 400


def test_the_followers_list_costs_the_same_for_many_followers(
    team_admin_client, team, remoteci, django_assert_max_num_queries
):
    from teams.models import User

    for n in range(20):
        RemoteciFollower.objects.create(remoteci=remoteci, user=User.objects.create(name=f"fan-{n}", team=team))

    path = f"{API}/remotecis/{remoteci.id}/users"
    team_admin_client.get(path)  # the first request checks the login throttle; the next ones do not

    with django_assert_max_num_queries(3):
        response = team_admin_client.get(path, {"embed": "team"})

    assert len(names(response)) == 20


def test_following_a_remoteci_attaches_the_caller_whatever_the_body_says(user_client, user, colleague, remoteci):
    response = user_client.post(f"{API}/remotecis/{remoteci.id}/users", {"user_id": str(colleague.id)})

    assert response.status_code == 201, response.content
    assert response.json() == {"user_id": str(user.id), "remoteci_id": str(remoteci.id)}
    assert names(user_client.get(f"{API}/remotecis/{remoteci.id}/users")) == ["lab-user"]
    audit = AuditLog.objects.get(resource="remoteci_follower")
    assert (audit.user_id, audit.action, audit.object_id) == (user.id, "follow", str(remoteci.id))


# Who removes whose following: themself, anyone of the remoteci's team as its admin or a super admin.
REMOVALS = [
    ("user", "user", 204),
    ("user", "colleague", 403),
    ("team_admin", "colleague", 204),
    ("super_admin", "colleague", 204),
    ("other_admin", "colleague", 404),
]


@pytest.mark.parametrize("remover,follower,expected", REMOVALS)
def test_who_removes_a_follower_of_a_remoteci(request, client_of, remoteci, remover, follower, expected):
    followed_by = request.getfixturevalue(follower)
    RemoteciFollower.objects.create(remoteci=remoteci, user=followed_by)

    response = client_of(request.getfixturevalue(remover)).delete(
        f"{API}/remotecis/{remoteci.id}/users/{followed_by.id}"
    )

    assert response.status_code == expected, response.content
    assert RemoteciFollower.objects.exists() == (expected != 204)


@pytest.mark.parametrize("who", ["user", "00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_removing_someone_who_does_not_follow_is_not_found(team_admin_client, request, remoteci, who):
    user_id = request.getfixturevalue(who).id if who == "user" else who

    response = team_admin_client.delete(f"{API}/remotecis/{remoteci.id}/users/{user_id}")

    assert response.status_code == 404, response.content


def test_another_teams_remoteci_is_not_found(user_client, user, other_remoteci, other_user):
    RemoteciFollower.objects.create(remoteci=other_remoteci, user=other_user)
    base = f"{API}/remotecis/{other_remoteci.id}/users"

    for response in (
        user_client.post(base),
        user_client.get(base),
        user_client.delete(f"{base}/{other_user.id}"),
        user_client.delete(f"{base}/{user.id}"),
    ):
        assert response.status_code == 404, response.content
    assert list(RemoteciFollower.objects.values_list("user", flat=True)) == [other_user.id]


@pytest.mark.parametrize("kind", ["remoteci", "feeder"])
def test_agents_follow_nothing(kind, remoteci, feeder, topic, user):
    RemoteciFollower.objects.create(remoteci=remoteci, user=user)
    agent = SignedClient(remoteci if kind == "remoteci" else feeder, kind=kind)

    for response in (
        agent.post(f"{API}/topics/{topic.id}/notifications"),
        agent.delete(f"{API}/topics/{topic.id}/notifications"),
        agent.post(f"{API}/remotecis/{remoteci.id}/users"),
        agent.delete(f"{API}/remotecis/{remoteci.id}/users/{user.id}"),
    ):
        assert response.status_code == 403, response.content
    assert not TopicFollower.objects.exists()
    assert RemoteciFollower.objects.count() == 1


def test_the_routes_ask_for_credentials(anonymous_client, topic, remoteci):
    for path in (f"topics/{topic.id}/notifications", "topics/notifications", f"remotecis/{remoteci.id}/users"):
        response = anonymous_client.get(f"{API}/{path}")
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == 'Basic realm="DCI"'


@pytest.mark.parametrize(
    "method,path,expected",
    [
        ("put", "topics/{topic}/notifications", 405),
        ("get", "topics/{topic}/notifications", 405),
        ("post", "topics/notifications", 405),
        ("delete", "remotecis/{remoteci}/users", 405),
        ("post", "topics/not-a-uuid/notifications", 404),
        ("post", "remotecis/{other_remoteci}/users", 404),
        ("get", "topics/{topic}/notifications/users/more", 404),
    ],
)
def test_errors_are_json_never_html(user_client, topic, remoteci, other_remoteci, method, path, expected):
    url = f"{API}/" + path.format(topic=topic.id, remoteci=remoteci.id, other_remoteci=other_remoteci.id)

    response = getattr(user_client, method)(url)

    assert response.status_code == expected
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["status_code"] == expected
