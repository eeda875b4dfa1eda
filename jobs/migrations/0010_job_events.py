"""Job events (SPEC §13) written by the database, and the seed's schedule giving its jobs their product.

``dci_job_event`` runs in the transaction of every status change of a job, whichever statement
makes it (a jobstate's, a PUT's, an operator's): a job entering success, failure or error from
any other status gets one ``jobs_jobevent`` row; a repeated final status gets none, a change
rolled back leaves none. Killing a job writes none (the 2025 server's rule).

Consumers read events by id (``GET /jobs_events/<seq>``, from their cursor on). Ids come from a
sequence, which hands them out in the order transactions ask, not in the order they commit: an
event with a smaller id could become visible after a consumer read past it, and be skipped for
good. The transaction-level advisory lock, taken before the id is drawn and held until commit,
makes events commit in id order. It serialises only the moments jobs finish (once per job),
not their jobstates.
"""

import importlib

from django.db import migrations

_0007 = importlib.import_module("jobs.migrations.0007_schedule_reach")
COLUMNS = "recheck_pending, user_agent, client_version)"
VALUES = "left(coalesce(p_client_version, ''), 255))"
assert COLUMNS in _0007.CREATE and VALUES in _0007.CREATE
SCHEDULE = _0007.CREATE.replace(COLUMNS, "recheck_pending, user_agent, client_version, product_id)").replace(
    VALUES,
    "left(coalesce(p_client_version, ''), 255),\n                    (SELECT t.product_id FROM jobs_topic t WHERE t.id = p_topic))",
)

# The advisory lock's key: any constant no other lock of dciserver uses.
EVENTS_LOCK = 7_241_013

CREATE = f"""
CREATE FUNCTION dci_job_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({EVENTS_LOCK});
    INSERT INTO jobs_jobevent (created_at, job_id, topic_id, status)
    VALUES (clock_timestamp(), NEW.id, NEW.topic_id, NEW.status);
    RETURN NULL;
END $$;

CREATE TRIGGER jobs_job_event AFTER UPDATE OF status ON jobs_job FOR EACH ROW
    WHEN (NEW.status IN ('success', 'failure', 'error') AND OLD.status NOT IN ('success', 'failure', 'error'))
    EXECUTE FUNCTION dci_job_event();
"""
DROP = """
DROP TRIGGER jobs_job_event ON jobs_job;
DROP FUNCTION dci_job_event();
"""


class Migration(migrations.Migration):
    dependencies = [("jobs", "0009_modern_jobs")]

    operations = [
        migrations.RunSQL(CREATE, DROP),
        migrations.RunSQL(SCHEDULE, _0007.CREATE),
    ]
