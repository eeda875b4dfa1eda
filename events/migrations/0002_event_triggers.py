"""Events written by the database, in the transaction of what they tell (SPEC §17).

Whichever statement makes the change (a jobstate's, a PUT's, a kill by an operator or by
``expire_jobs``, an upload's comparison), its triggers write the ``events_event`` row and the task
that dispatches it, so a change rolled back leaves neither, and a change committed is never
without its event: the outbox is the task table itself.

``dci_enqueue`` is what ``django_tasks_db``'s ``DatabaseBackend.enqueue`` writes, in SQL, for
triggers: the columns of the pinned version's ``DBTaskResult`` (a test compares them with the
model's, so that an upgrade that changes them fails there and not in production).
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION dci_enqueue(p_id uuid, p_task_path text, p_args jsonb) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO django_tasks_database_dbtaskresult
        (id, status, args_kwargs, priority, task_path, queue_name, backend_name, run_after,
         enqueued_at, exception_class_path, traceback, worker_ids)
    VALUES (p_id, 'READY', jsonb_build_object('args', p_args, 'kwargs', '{}'::jsonb), 0, p_task_path,
            'default', 'default', '9999-01-01 00:00:00+00', clock_timestamp(), '', '', '[]'::jsonb);
END $$;

CREATE FUNCTION dci_event(p_kind text, p_job uuid, p_team uuid, p_status text, p_regressions integer)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_event bigint;
    v_task uuid := gen_random_uuid();
BEGIN
    INSERT INTO events_event (created_at, kind, job_id, team_id, status, regressions, task_id)
    VALUES (clock_timestamp(), p_kind, p_job, p_team, p_status, p_regressions, v_task)
    RETURNING id INTO v_event;
    PERFORM dci_enqueue(v_task, 'events.tasks.event_dispatch', jsonb_build_array(v_event));
END $$;

-- A job's first final status: its job event (jobs' trigger, SPEC §13) is the one this follows.
CREATE FUNCTION dci_event_finished() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dci_event('job_finished', NEW.job_id, (SELECT team_id FROM jobs_job WHERE id = NEW.job_id), NEW.status, 0);
    RETURN NULL;
END $$;
CREATE TRIGGER events_job_finished AFTER INSERT ON jobs_jobevent FOR EACH ROW
    EXECUTE FUNCTION dci_event_finished();

CREATE FUNCTION dci_event_killed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dci_event('job_killed', NEW.id, NEW.team_id, NEW.status, 0);
    RETURN NULL;
END $$;
CREATE TRIGGER events_job_killed AFTER UPDATE OF status ON jobs_job FOR EACH ROW
    WHEN (NEW.status = 'killed' AND OLD.status <> 'killed')
    EXECUTE FUNCTION dci_event_killed();

-- An upload's comparison finds regressions: the result's counts are written once, after its cases.
CREATE FUNCTION dci_event_regressed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM dci_event('job_regressed', NEW.job_id, j.team_id, j.status, NEW.regressions)
    FROM jobs_job j WHERE j.id = NEW.job_id;
    RETURN NULL;
END $$;
CREATE TRIGGER events_job_regressed AFTER UPDATE OF regressions ON files_junitresult FOR EACH ROW
    WHEN (NEW.regressions > 0 AND OLD.regressions = 0)
    EXECUTE FUNCTION dci_event_regressed();
"""

DROP = """
DROP TRIGGER events_job_regressed ON files_junitresult;
DROP FUNCTION dci_event_regressed();
DROP TRIGGER events_job_killed ON jobs_job;
DROP FUNCTION dci_event_killed();
DROP TRIGGER events_job_finished ON jobs_jobevent;
DROP FUNCTION dci_event_finished();
DROP FUNCTION dci_event(text, uuid, uuid, text, integer);
DROP FUNCTION dci_enqueue(uuid, text, jsonb);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("files", "0006_test_results"),
        ("django_tasks_database", "0021_conditional_partial_index_ordering"),
    ]

    operations = [migrations.RunSQL(CREATE, DROP)]
