"""dciserver.prepared: the hot statements run as PostgreSQL prepared statements, per connection."""

import pytest
from django.db import DataError, InterfaceError, OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from dciserver import prepared

pytestmark = pytest.mark.django_db

TEAMS = 'SELECT "name" FROM "teams_team" WHERE "name" = %s OR "name" LIKE %s ORDER BY "name"'
# For a second connection, which does not see the test's uncommitted rows.
TABLES = 'SELECT "relname" FROM "pg_class" WHERE "relname" = %s AND "relkind" = %s'


@pytest.fixture(autouse=True)
def no_statements():
    """Each test starts with a session holding no prepared statement (the connection outlives tests)."""
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    connection._dci_prepared = None


def held(db=connection):
    """This session's prepared statements, as PostgreSQL knows them: {name: text}."""
    with db.cursor() as cursor:
        cursor.execute("SELECT name, statement FROM pg_prepared_statements")
        return dict(cursor.fetchall())


def run(sql, params=(), db=connection):
    with db.cursor() as cursor:
        prepared.execute(cursor, sql, params)
        return cursor.fetchall()


def test_a_statement_is_prepared_the_second_time_a_connection_runs_it_and_answers_the_same(world):
    expected = [(world.team.name,)]
    with CaptureQueriesContext(connection) as first:
        assert run(TEAMS, [world.team.name, "no%%such"]) == expected
    assert first.captured_queries[-1]["sql"].startswith('SELECT "name"')
    assert not held()

    with CaptureQueriesContext(connection) as later:
        assert run(TEAMS, [world.team.name, "no%%such"]) == expected
        assert run(TEAMS, ["nobody", world.team.name[:2] + "%"]) == expected
    executes = [q["sql"] for q in later.captured_queries]
    assert len(executes) == 2 and all(sql.startswith("EXECUTE dci_") for sql in executes), executes
    # Psycopg2's placeholders became PostgreSQL's, its escaped % a plain one.
    (text,) = held().values()
    assert '"name" = $1 OR "name" LIKE $2' in text
    assert prepared.original(connection, executes[0]) == TEAMS


def test_a_connection_holds_at_most_max_statements_and_deallocates_the_least_recently_used(world, monkeypatch):
    monkeypatch.setattr(prepared, "MAX_STATEMENTS", 3)
    statements = [f'SELECT count(*) + {n} FROM "teams_team" WHERE "name" <> %s' for n in range(4)]
    for sql in statements[:2]:
        run(sql, ["x"])
        run(sql, ["x"])
    assert len(held()) == 2
    run(statements[0], ["x"])  # the first is now the most recently used
    for sql in statements[2:]:
        run(sql, ["x"])
        run(sql, ["x"])
    texts = " | ".join(held().values())
    assert len(held()) == 3
    assert "+ 0 " in texts and "+ 3 " in texts and "+ 1 " not in texts, texts
    # An evicted statement runs again, as text first.
    assert run(statements[1], ["x"]) == [(1 + count_teams(),)]


def count_teams():
    with connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "teams_team" WHERE "name" <> %s', ["x"])
        return cursor.fetchone()[0]


def test_a_statement_postgresql_cannot_prepare_runs_as_text_and_leaves_the_transaction_usable(world):
    # The type of a bare parameter can't be inferred: PREPARE refuses it.
    untyped = "SELECT %s IS NULL, 'ok!'"
    with transaction.atomic():
        for _ in range(3):
            assert run(untyped, ["ok"]) == [(False, "ok!")]
        # The refused PREPARE was inside this transaction, which goes on.
        assert run(TEAMS, [world.team.name, "-"]) == [(world.team.name,)]
    assert not any("IS NULL" in text for text in held().values())
    with CaptureQueriesContext(connection) as again:
        run(untyped, ["ok"])
    assert again.captured_queries[-1]["sql"] == "SELECT 'ok' IS NULL, 'ok!'"


def test_a_bad_parameter_fails_as_it_would_as_text(world):
    sql = 'SELECT "name" FROM "teams_team" WHERE "id" = %s'
    run(sql, [str(world.team.id)])
    run(sql, [str(world.team.id)])
    with pytest.raises(DataError), transaction.atomic():
        run(sql, ["not-a-uuid"])
    assert run(sql, [str(world.team.id)]) == [(world.team.name,)]


def test_a_session_that_lost_its_statements_starts_again(world):
    # Inside a transaction (each test runs in one), the transaction is aborted: the error is the
    # caller's, and the next run is fine.
    for _ in range(2):
        run(TEAMS, [world.team.name, "-"])
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with pytest.raises(OperationalError, match="does not exist"), transaction.atomic():
        run(TEAMS, [world.team.name, "-"])
    assert run(TEAMS, [world.team.name, "-"]) == [(world.team.name,)]

    # Outside one, the statement is run again as text: the caller sees its answer.
    other = connections.create_connection("default")
    try:
        for _ in range(2):
            assert run(TABLES, ["teams_team", "r"], db=other) == [("teams_team",)]
        with other.cursor() as cursor:
            cursor.execute("DEALLOCATE ALL")
        assert run(TABLES, ["teams_team", "r"], db=other) == [("teams_team",)]
        for _ in range(2):
            run(TABLES, ["teams_team", "r"], db=other)
        assert len(held(other)) == 1
    finally:
        other.close()


def test_a_new_connection_starts_with_no_statements_and_a_lost_one_fails_as_djangos_error():
    other = connections.create_connection("default")
    try:
        run(TABLES, ["teams_team", "r"], db=other)
        assert run(TABLES, ["teams_team", "r"], db=other) == [("teams_team",)]
        assert len(held(other)) == 1
        other.close()
        # A new session: nothing held, and the statement is not run by a stale name.
        assert run(TABLES, ["teams_team", "r"], db=other) == [("teams_team",)]
        assert not held(other)

        # The session is killed just before its statement would be prepared.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        with pytest.raises((OperationalError, InterfaceError)):
            run(TABLES, ["teams_team", "r"], db=other)
    finally:
        other.close()


def test_a_callers_page_is_prepared_with_its_team_in_the_text_and_keeps_one_plan(world, user, user_client):
    """Who reads is written in the statement (``readable_sql``): the page of a team's jobs with its
    scoped embeds has no parameter left, so PostgreSQL plans it once, for that team, and runs that
    plan from then on (with the team as a parameter it could plan it anew on every run)."""
    client = user_client
    url = "/api/v1/jobs?embed=remoteci,team,jobdefinition,topic,components"
    for _ in range(8):
        assert client.get(url).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT statement, parameter_types::text, generic_plans, custom_plans FROM pg_prepared_statements"
            " WHERE statement LIKE %s",
            ['%FROM "jobs_job" t0 %'],
        )
        (statement, types, generic, custom), *others = cursor.fetchall()
    assert not others
    assert f"'{user.team_id}'::uuid" in statement
    assert types == "{}" and custom == 0 and generic >= 6, (types, generic, custom)
