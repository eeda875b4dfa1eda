"""Live jobs counted per team and state by triggers, so that listing jobs never counts the history."""

from django.db import migrations, models

SLOTS = 16

CREATE = f"""
LOCK TABLE jobs_job IN SHARE MODE;

CREATE FUNCTION jobs_jobcount_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcount (team_id, state, slot, count)
    SELECT team_id, state, pg_backend_pid() % {SLOTS}, count(*) FROM inserted
    WHERE archived_at IS NULL GROUP BY team_id, state ORDER BY team_id, state
    ON CONFLICT (team_id, state, slot) DO UPDATE SET count = jobs_jobcount.count + EXCLUDED.count;
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_jobcount_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobs_jobcount (team_id, state, slot, count)
    SELECT team_id, state, pg_backend_pid() % {SLOTS}, -count(*) FROM deleted
    WHERE archived_at IS NULL GROUP BY team_id, state ORDER BY team_id, state
    ON CONFLICT (team_id, state, slot) DO UPDATE SET count = jobs_jobcount.count + EXCLUDED.count;
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_jobcount_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.archived_at IS NULL THEN
        INSERT INTO jobs_jobcount (team_id, state, slot, count)
        VALUES (OLD.team_id, OLD.state, pg_backend_pid() % {SLOTS}, -1)
        ON CONFLICT (team_id, state, slot) DO UPDATE SET count = jobs_jobcount.count - 1;
    END IF;
    IF NEW.archived_at IS NULL THEN
        INSERT INTO jobs_jobcount (team_id, state, slot, count)
        VALUES (NEW.team_id, NEW.state, pg_backend_pid() % {SLOTS}, 1)
        ON CONFLICT (team_id, state, slot) DO UPDATE SET count = jobs_jobcount.count + 1;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION jobs_jobcount_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobs_jobcount;
    RETURN NULL;
END $$;

-- Statement level: one upsert per team for a bulk insert (COPY) or delete (purge).
CREATE TRIGGER jobs_job_count_insert AFTER INSERT ON jobs_job
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION jobs_jobcount_after_insert();
CREATE TRIGGER jobs_job_count_delete AFTER DELETE ON jobs_job
    REFERENCING OLD TABLE AS deleted FOR EACH STATEMENT EXECUTE FUNCTION jobs_jobcount_after_delete();
-- Row level, and only when what is counted changes: status updates and heartbeats pay nothing.
CREATE TRIGGER jobs_job_count_update AFTER UPDATE OF archived_at, state, team_id ON jobs_job FOR EACH ROW
    WHEN ((OLD.archived_at IS NULL) IS DISTINCT FROM (NEW.archived_at IS NULL)
          OR OLD.state IS DISTINCT FROM NEW.state OR OLD.team_id IS DISTINCT FROM NEW.team_id)
    EXECUTE FUNCTION jobs_jobcount_after_update();
CREATE TRIGGER jobs_job_count_truncate AFTER TRUNCATE ON jobs_job
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_jobcount_after_truncate();

INSERT INTO jobs_jobcount (team_id, state, slot, count)
SELECT team_id, state, 0, count(*) FROM jobs_job WHERE archived_at IS NULL GROUP BY team_id, state;
"""

DROP = """
DROP TRIGGER jobs_job_count_insert ON jobs_job;
DROP TRIGGER jobs_job_count_delete ON jobs_job;
DROP TRIGGER jobs_job_count_update ON jobs_job;
DROP TRIGGER jobs_job_count_truncate ON jobs_job;
DROP FUNCTION jobs_jobcount_after_insert();
DROP FUNCTION jobs_jobcount_after_delete();
DROP FUNCTION jobs_jobcount_after_update();
DROP FUNCTION jobs_jobcount_after_truncate();
"""


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="JobCount",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("team_id", models.UUIDField()),
                ("state", models.CharField(max_length=16)),
                ("slot", models.SmallIntegerField()),
                ("count", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("team_id", "state", "slot"), name="jobcount_team_state_slot")
                ],
            },
        ),
        migrations.RunSQL(CREATE, DROP),
    ]
