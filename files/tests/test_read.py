"""GET /files, /files/<id>, /files/<id>/content, /jobs/<id>/files and DELETE /files/<id>."""

import io

import pytest

from files import services
from files.models import File
from files.tests.helpers import API
from jobs.services import job_archive

pytestmark = pytest.mark.django_db


def make_file(job, content=b"hello\n", name="log.txt", mime="text/plain", jobstate=None):
    return services.file_create(job=job, jobstate=jobstate, name=name, mime=mime, stream=io.BytesIO(content))


def test_it_shows_a_file_with_its_text_inline(user_client, job, jobstate):
    file = make_file(job, jobstate=jobstate)

    response = user_client.get(f"{API}/files/{file.id}")

    assert response.status_code == 200
    assert response.json()["file"] == {
        "id": str(file.id),
        "name": "log.txt",
        "mime": "text/plain",
        "md5": "b1946ac92492d2347c6235b4d2611184",
        "size": 6,
        "job_id": str(job.id),
        "jobstate_id": str(jobstate.id),
        "team_id": str(job.team_id),
        "created_at": file.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "state": "active",
        "content": "hello\n",
    }


@pytest.mark.parametrize(
    ("mime", "size", "inline"),
    [
        ("text/plain", 64, True),
        ("text/plain", 65, False),
        ("application/octet-stream", 10, False),
    ],
    ids=["small-text", "text-over-the-limit", "binary"],
)
def test_content_is_inline_only_for_small_text_files(user_client, job, settings, mime, size, inline):
    settings.DCI_INLINE_CONTENT_MAX = 64
    make_file(job, content=b"a" * size, mime=mime)

    content = user_client.get(f"{API}/files").json()["files"][0]["content"]

    assert content == ("a" * size if inline else None)


def test_a_large_file_in_a_list_costs_no_storage_read(user_client, job, settings, monkeypatch):
    settings.DCI_INLINE_CONTENT_MAX = 4
    make_file(job, content=b"more than four bytes")

    def no_read(file):
        raise AssertionError("storage was read")

    monkeypatch.setattr(services, "file_open", no_read)
    monkeypatch.setattr(services.files_storage(), "open", no_read)

    assert user_client.get(f"{API}/files").json()["files"][0]["content"] is None


def test_it_lists_a_teams_files_and_hides_other_teams(user_client, outsider_client, job, other_job):
    mine = make_file(job)
    theirs = make_file(other_job)

    mine_listed = user_client.get(f"{API}/files").json()
    theirs_listed = outsider_client.get(f"{API}/files").json()

    assert ([f["id"] for f in mine_listed["files"]], mine_listed["_meta"]) == ([str(mine.id)], {"count": 1})
    assert [f["id"] for f in theirs_listed["files"]] == [str(theirs.id)]


@pytest.mark.parametrize("suffix", ["", "/content"])
def test_another_teams_file_is_not_found(outsider_client, job, suffix):
    file = make_file(job)

    assert outsider_client.get(f"{API}/files/{file.id}{suffix}").status_code == 404


def test_the_list_language_works_on_files(user_client, job):
    make_file(job, name="a.txt")
    make_file(job, name="b.log")

    names = [f["name"] for f in user_client.get(f"{API}/files?sort=name&where=name:b*").json()["files"]]

    assert names == ["b.log"]


def test_it_embeds_job_jobstate_and_team(user_client, job, jobstate):
    make_file(job, jobstate=jobstate)

    file = user_client.get(f"{API}/files?embed=job,jobstate,team").json()["files"][0]

    assert file["job"]["id"] == str(job.id)
    assert file["jobstate"]["id"] == str(jobstate.id)
    assert file["team"]["name"] == job.team.name


def test_listing_files_with_embeds_takes_a_bounded_number_of_queries(
    user_client, job, jobstate, settings, django_assert_max_num_queries
):
    # Binary files: inline content reads storage, not the database, and is not what this counts.
    for index in range(6):
        make_file(job, jobstate=jobstate, name=f"f{index}", mime="application/octet-stream")
    user_client.get(f"{API}/identity")  # the first request verifies the password; later ones only load the user

    # The caller, the count, and the page (rows and embeds joined).
    with django_assert_max_num_queries(3):
        response = user_client.get(f"{API}/files?embed=job,jobstate,team")

    assert len(response.json()["files"]) == 6


def test_a_jobs_files_are_listed_with_their_content(user_client, job, other_job):
    file = make_file(job)
    make_file(other_job)

    listed = user_client.get(f"{API}/jobs/{job.id}/files").json()

    assert [(f["id"], f["content"]) for f in listed["files"]] == [(str(file.id), "hello\n")]
    assert listed["_meta"] == {"count": 1}


def test_an_embedded_file_does_not_read_its_content(user_client, job):
    make_file(job)

    embedded = user_client.get(f"{API}/jobs/{job.id}?embed=files").json()["job"]["files"]

    assert [f["content"] for f in embedded] == [None]


def test_content_streams_the_bytes_as_an_attachment(user_client, job):
    payload = bytes(range(256)) * 5000
    file = make_file(job, content=payload, name='report "final".bin', mime="application/x-tar")

    response = user_client.get(f"{API}/files/{file.id}/content")

    assert response.status_code == 200
    assert response.streaming
    assert b"".join(response.streaming_content) == payload
    assert response["Content-Type"] == "application/x-tar"
    assert response["Content-Length"] == str(len(payload))
    assert response["Content-Disposition"] == 'attachment; filename="report \\"final\\".bin"'


def test_content_of_bytes_missing_from_storage_is_not_found(user_client, job):
    file = make_file(job)
    services.files_storage().delete(file.storage_name)

    response = user_client.get(f"{API}/files/{file.id}/content")

    assert response.status_code == 404
    assert response.json()["status_code"] == 404


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        ("team_admin_client", 204),
        ("admin_client", 204),
        ("user_client", 403),
        ("outsider_client", 404),
    ],
)
def test_team_admins_and_super_admins_delete_files(request, job, client, expected):
    file = make_file(job)

    response = request.getfixturevalue(client).delete(f"{API}/files/{file.id}")

    assert response.status_code == expected
    file.refresh_from_db()
    assert file.is_archived == (expected == 204)


def test_a_deleted_file_is_archived_not_removed(team_admin_client, job):
    file = make_file(job)

    team_admin_client.delete(f"{API}/files/{file.id}")

    assert team_admin_client.get(f"{API}/files/{file.id}").status_code == 404
    assert File.objects.filter(pk=file.id, archived_at__isnull=False).exists()
    assert services.files_storage().exists(file.storage_name)


def test_files_are_immutable(team_admin_client, job):
    file = make_file(job)

    response = team_admin_client.put(f"{API}/files/{file.id}", {"name": "renamed"}, format="json")

    assert response.status_code == 405
    assert response.json()["status_code"] == 405


def test_archiving_a_jobs_files_hides_them_all(user_client, job, other_job):
    make_file(job)
    make_file(job)
    kept = make_file(other_job)

    job_archive(job=job)

    assert File.objects.filter(job=job, archived_at__isnull=False).count() == 2
    assert File.objects.live().get() == kept
