"""``dci_jobs_kill`` finds the jobs it kills by their primary key.

Its statement is planned once per connection, as a generic plan for any array of ids, and the
condition "unfinished" (``status IN ('new', 'pre-run', 'running', 'post-run') AND archived_at IS
NULL``) is the predicate of the partial indexes ``job_remoteci_unfinished`` and
``job_unfinished_heartbeat``: the planner, which takes those indexes for a handful of rows,
scanned every unfinished job in the system (and the dead index entries earlier kills left)
to find the few it was given. In the bench, 2.6 ms of a schedule's 3.7 ms in the database,
after a few thousand schedules. Written as ``(...) IS TRUE``, the same condition no longer
proves the indexes' predicate, and the ids are looked up in the primary key.
"""

from django.db import migrations

FUNCTION = r"""
CREATE OR REPLACE FUNCTION dci_jobs_kill(p_job_ids uuid[], p_reason text) RETURNS SETOF uuid
LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(p_job_ids) = 0 THEN
        RETURN;
    END IF;
    -- The UPDATE's row locks re-check the status: a job that finished meanwhile keeps its
    -- final status and gets no jobstate.
    RETURN QUERY
    WITH killed AS (
        UPDATE jobs_job j
           SET status = 'killed', etag = replace(gen_random_uuid()::text, '-', ''), updated_at = clock_timestamp()
         WHERE j.id = ANY (p_job_ids)
           AND {unfinished}
        RETURNING j.id, j.team_id, j.updated_at
    ), jobstates AS (
        INSERT INTO jobs_jobstate (id, created_at, state, archived_at, status, comment, job_id, team_id)
        SELECT gen_random_uuid(), k.updated_at, 'active', NULL, 'killed', p_reason, k.id, k.team_id FROM killed k
    )
    SELECT k.id FROM killed k;
END $$;
"""
UNFINISHED = "j.status IN ('new', 'pre-run', 'running', 'post-run') AND j.archived_at IS NULL"
# "IS TRUE" keeps the partial indexes of unfinished jobs out of the plan (see the docstring).
KILL = FUNCTION.format(unfinished=f"({UNFINISHED}) IS TRUE")
PREVIOUS = FUNCTION.format(unfinished=UNFINISHED)


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0004_fk_indexes_covered"),
    ]

    operations = [
        migrations.RunSQL(KILL, PREVIOUS),
    ]
