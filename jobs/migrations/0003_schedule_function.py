"""Scheduling in the database: ``dci_schedule`` picks and writes a remoteci's next job (SPEC §5).

``jobs.scheduling.job_schedule`` is its only caller (the API and the ``schedule`` command go
through it). ``dci_jobs_kill`` is the one place a kill is written: by the
schedule's kill of unfinished jobs, and by ``jobs.services.jobs_kill`` (admin, ``expire_jobs``).

The statuses written out below are the wire values of ``jobs.models.Status``; 'new',
'pre-run', 'running', 'post-run' are ``UNFINISHED_STATUSES``, spelt as in the partial index
``job_remoteci_unfinished`` so that the planner uses it.
"""

from django.db import migrations

CREATE = r"""
-- PL/pgSQL, not LANGUAGE sql: its statement is planned once per connection, not on every call
-- (0.3 ms of the database's CPU per schedule, even with nothing to kill).
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
           AND j.status IN ('new', 'pre-run', 'running', 'post-run') AND j.archived_at IS NULL
        RETURNING j.id, j.team_id, j.updated_at
    ), jobstates AS (
        INSERT INTO jobs_jobstate (id, created_at, state, archived_at, status, comment, job_id, team_id)
        SELECT gen_random_uuid(), k.updated_at, 'active', NULL, 'killed', p_reason, k.id, k.team_id FROM killed k
    )
    SELECT k.id FROM killed k;
END $$;

-- The next job of a topic for a remoteci (SPEC §5). ``p_candidates`` are the topic's
-- (job definition, newest component set) pairs in scheduling order, as jobs.scheduling reads
-- them: [{"jobdefinition_id": uuid or null, "component_ids": [uuid, ...], "key": components_key}].
-- (The key is SHA-1, which PostgreSQL only has through pgcrypto; the embedded server lacks it.)
-- ``reason`` is NULL when ``job`` is handed out, otherwise 'inactive', 'unsubscribed' or
-- 'exhausted' (every candidate already run on this remoteci).
CREATE OR REPLACE FUNCTION dci_schedule(
    p_remoteci uuid, p_topic uuid, p_candidates json,
    p_user_agent text, p_client_version text, p_kill_unfinished boolean,
    OUT job jobs_job, OUT reason text
) LANGUAGE plpgsql AS $$
DECLARE
    v_remoteci record;
    v_candidate json;
    v_jobdefinition uuid;
    v_key text;
BEGIN
    -- The lock serialises the schedules of one remoteci, so one combination is never handed
    -- out twice; other remotecis' schedules take other locks and never wait on this one.
    SELECT r.name, r.team_id, r.state = 'active' AND r.archived_at IS NULL AS active,
           EXISTS (SELECT 1 FROM jobs_topicsubscription s WHERE s.topic_id = p_topic AND s.team_id = r.team_id)
               AS subscribed
      INTO v_remoteci FROM teams_remoteci r WHERE r.id = p_remoteci FOR UPDATE OF r;
    IF NOT FOUND OR NOT v_remoteci.active THEN
        reason := 'inactive';
        RETURN;
    END IF;
    IF NOT v_remoteci.subscribed THEN
        reason := 'unsubscribed';
        RETURN;
    END IF;

    -- 1. A pending recheck copy, oldest first, is handed out, once.
    UPDATE jobs_job j SET recheck_pending = false
     WHERE j.id = (SELECT p.id FROM jobs_job p
                    WHERE p.remoteci_id = p_remoteci AND p.recheck_pending
                      AND p.status IN ('new', 'pre-run', 'running', 'post-run') AND p.archived_at IS NULL
                    ORDER BY p.created_at, p.id LIMIT 1)
    RETURNING j.* INTO job;

    IF job.id IS NULL THEN
        -- 2. The first candidate this remoteci has no live job for yet.
        FOR v_candidate IN SELECT e FROM json_array_elements(p_candidates) WITH ORDINALITY a(e, n) ORDER BY n LOOP
            v_jobdefinition := (v_candidate ->> 'jobdefinition_id')::uuid;
            v_key := v_candidate ->> 'key';
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM jobs_job j
                 WHERE j.remoteci_id = p_remoteci AND j.components_key = v_key
                   AND j.jobdefinition_id IS NOT DISTINCT FROM v_jobdefinition AND j.archived_at IS NULL);
            -- 5. The new job, with its components.
            INSERT INTO jobs_job (id, created_at, state, archived_at, updated_at, etag, status, comment, recheck,
                                  remoteci_id, jobdefinition_id, topic_id, team_id, components_key,
                                  recheck_pending, user_agent, client_version)
            VALUES (gen_random_uuid(), clock_timestamp(), 'active', NULL, clock_timestamp(),
                    replace(gen_random_uuid()::text, '-', ''), 'new', '', false,
                    p_remoteci, v_jobdefinition, p_topic, v_remoteci.team_id, v_key,
                    false, left(coalesce(p_user_agent, ''), 255), left(coalesce(p_client_version, ''), 255))
            RETURNING * INTO job;
            INSERT INTO jobs_jobcomponent (job_id, component_id)
            SELECT job.id, c::uuid FROM json_array_elements_text(v_candidate -> 'component_ids') WITH ORDINALITY a(c, n)
             ORDER BY n;
            EXIT;
        END LOOP;
        IF job.id IS NULL THEN
            reason := 'exhausted';
            RETURN;
        END IF;
    END IF;

    -- 4. The remoteci's other unfinished jobs are killed (pending recheck copies wait their turn).
    IF p_kill_unfinished THEN
        PERFORM dci_jobs_kill(
            ARRAY(SELECT u.id FROM jobs_job u
                   WHERE u.remoteci_id = p_remoteci
                     AND u.status IN ('new', 'pre-run', 'running', 'post-run') AND u.archived_at IS NULL
                     AND NOT u.recheck_pending AND u.id <> job.id),
            format('killed: remoteci %s was scheduled job %s', v_remoteci.name, job.id));
    END IF;
END $$;
"""

DROP = """
DROP FUNCTION dci_schedule(uuid, uuid, json, text, text, boolean);
DROP FUNCTION dci_jobs_kill(uuid[], text);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0002_jobcount"),
    ]

    operations = [
        migrations.RunSQL(CREATE, DROP),
    ]
