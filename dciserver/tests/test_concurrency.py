"""The etag check and the write are one atomic step (SPEC §5), proven with real concurrent requests.

Each thread is its own client with its own PostgreSQL connection, so the requests race in
the database as they would between gunicorn workers.
"""

import threading

import pytest
from django.db import connection

from conftest import client_for
from dciserver.tests.resources import MUTABLE, each

WRITERS = 20


def race(requests):
    """Run each zero-argument callable in its own thread, all released at once; return their results."""
    barrier = threading.Barrier(len(requests))
    results = [None] * len(requests)

    def run(index, request):
        try:
            barrier.wait(timeout=30)
            results[index] = request()
        except Exception as exc:  # reported through the results, asserted by the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
@each(MUTABLE)
def test_of_twenty_puts_with_the_same_etag_exactly_one_wins(resource, row, super_admin):
    etag = type(row).objects.get(pk=row.pk).etag
    field, value = next(iter(resource.update_body.items()))

    def put(i):
        body = {field: f"{value}-{i}"} if isinstance(value, str) else resource.update_body
        return lambda: client_for(super_admin).put(resource.url_of(row), body, format="json", HTTP_IF_MATCH=etag)

    responses = race([put(i) for i in range(WRITERS)])

    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert statuses == [204] + [412] * (WRITERS - 1)
    (winner,) = [r for r in responses if r.status_code == 204]
    after = type(row).objects.get(pk=row.pk)
    assert after.etag == winner["ETag"] != etag
    if isinstance(value, str):
        # The row holds the winner's write, not a mix of losers'.
        winners_value = getattr(after, field)
        assert winners_value.startswith(f"{value}-")


@pytest.mark.django_db(transaction=True)
def test_of_twenty_deletes_with_the_same_etag_exactly_one_archives(remoteci, super_admin):
    etag = type(remoteci).objects.get(pk=remoteci.pk).etag
    url = f"/api/v1/remotecis/{remoteci.pk}"

    responses = race([lambda: client_for(super_admin).delete(url, HTTP_IF_MATCH=etag) for _ in range(WRITERS)])

    statuses = [getattr(r, "status_code", repr(r)) for r in responses]
    assert statuses.count(204) == 1, statuses
    assert set(statuses) <= {204, 404, 412}, statuses


@pytest.mark.django_db(transaction=True)
def test_of_ten_concurrent_creations_of_one_name_one_wins_and_the_rest_conflict(super_admin):
    def create():
        return client_for(super_admin).post("/api/v1/teams", {"name": "contested"}, format="json")

    responses = race([create for _ in range(10)])

    statuses = sorted(getattr(r, "status_code", repr(r)) for r in responses)
    assert statuses == [201] + [422] * 9
    conflict = next(r for r in responses if r.status_code == 422)
    assert conflict.json()["payload"] == {"error": {"name": "already_exists"}}
