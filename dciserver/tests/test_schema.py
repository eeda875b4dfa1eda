"""The schema as PostgreSQL holds it after the migrations."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# One index made redundant by another whose first column is its only one: every write pays for
# it (a jobstate writes a jobstate, its job and an audit entry) and no read needs it. The tables of
# Django and of django-axes (written on logins only) are theirs.
REDUNDANT = """
    WITH idx AS (
        SELECT i.indexrelid::regclass::text AS name, c.relname AS tbl, i.indkey[0] AS first,
               i.indnatts AS columns, i.indisunique AS is_unique, i.indpred IS NOT NULL AS is_partial,
               i.indexprs IS NOT NULL AS has_expressions
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relname NOT LIKE 'auth\\_%%' AND c.relname NOT LIKE 'django\\_%%'
          AND c.relname NOT LIKE 'axes\\_%%'
    )
    SELECT a.tbl, a.name, b.name FROM idx a JOIN idx b ON a.tbl = b.tbl AND a.name <> b.name
    WHERE a.columns = 1 AND NOT a.is_unique AND NOT a.is_partial AND NOT a.has_expressions
      AND b.first = a.first AND b.columns > 1 AND NOT b.is_partial
"""


def test_no_index_is_the_first_column_of_another():
    with connection.cursor() as cursor:
        cursor.execute(REDUNDANT)
        redundant = cursor.fetchall()
    assert redundant == []


def test_the_hot_write_tables_keep_the_indexes_their_reads_use():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexname FROM pg_indexes WHERE tablename IN"
            " ('jobs_job', 'jobs_jobstate', 'dciserver_auditlog')"
        )
        held = set(cursor.fetchall())
    for index in [
        ("jobs_job", "job_team_created"),
        ("jobs_job", "job_remoteci_components"),
        ("jobs_jobstate", "jobstate_job_created"),
        ("jobs_jobstate", "jobstate_team_created"),
        ("dciserver_auditlog", "audit_team_created"),
    ]:
        assert index in held
    # The single-column foreign key indexes they cover are gone.
    assert not {name for _, name in held} & {"jobs_job_team_id_c38d3640", "jobs_jobstate_job_id_9581613a"}
