"""Test results as data (SPEC §15): cases with their states, tests on their lines."""

import django.contrib.postgres.fields
import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("files", "0005_junit_success_column"),
        ("jobs", "0011_purge_indexes"),
        ("teams", "0010_remoteci_public"),
    ]

    operations = [
        # A case's file: the same ids as its result's, now the file itself, which archives it.
        migrations.RenameField("testcase", "result_file", "file"),
        migrations.AlterField(
            model_name="testcase",
            name="file",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="testcases", to="files.file"
            ),
        ),
        migrations.CreateModel(
            name="Test",
            fields=[
                ("id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("line", models.BigIntegerField()),
                ("file_name", models.CharField(max_length=512)),
                ("suite", models.TextField(blank=True, default="")),
                ("classname", models.TextField(blank=True, default="")),
                ("name", models.TextField(blank=True, default="")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ("runs", models.IntegerField(default=0)),
                ("outcomes", models.CharField(blank=True, default="", max_length=255)),
                (
                    "sets",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.IntegerField(), blank=True, default=list, size=None
                    ),
                ),
                ("flips", models.SmallIntegerField(default=0)),
                ("set_flip_age", models.SmallIntegerField(blank=True, null=True)),
                ("flaky", models.BooleanField(default=False)),
                (
                    "last_result",
                    models.CharField(
                        choices=[
                            ("success", "Success"),
                            ("failure", "Failure"),
                            ("error", "Error"),
                            ("skipped", "Skipped"),
                        ],
                        max_length=16,
                    ),
                ),
                ("last_job_id", models.UUIDField()),
                ("failing_since", models.UUIDField(blank=True, null=True)),
            ],
        ),
        migrations.AddField(
            model_name="junitresult",
            name="baseline_id",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="junitresult",
            name="flaky_regressions",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="testcase",
            name="archived_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name="testcase",
            name="failing_since",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="testcase",
            name="flaky",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="testcase",
            name="job",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="testcases",
                to="jobs.job",
            ),
        ),
        migrations.AddField(
            model_name="testcase",
            name="key",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="testcase",
            name="previous_result",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.AddField(
            model_name="testcase",
            name="state",
            field=models.CharField(
                blank=True,
                choices=[
                    ("ADDED", "Added"),
                    ("REMOVED", "Removed"),
                    ("UNCHANGED", "Unchanged"),
                    ("REGRESSED", "Regressed"),
                    ("RECOVERED", "Recovered"),
                    ("SKIPPED", "Skipped"),
                    ("UNSKIPPED", "Unskipped"),
                    ("CHANGED", "Changed"),
                ],
                default="",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="testcase",
            name="suite",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="testcase",
            name="team",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="teams.team",
            ),
        ),
        migrations.AddField(
            model_name="testcase",
            name="test_id",
            field=models.BigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="testcase",
            name="type",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddIndex(
            model_name="testcase",
            index=models.Index(fields=["job", "id"], name="testcase_job"),
        ),
        migrations.AddIndex(
            model_name="testcase",
            index=models.Index(fields=["test_id", "-id"], name="testcase_test_newest"),
        ),
        migrations.AddField(
            model_name="test",
            name="remoteci",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="teams.remoteci"
            ),
        ),
        migrations.AddField(
            model_name="test",
            name="team",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="teams.team"
            ),
        ),
        migrations.AddField(
            model_name="test",
            name="topic",
            field=models.ForeignKey(
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="jobs.topic",
            ),
        ),
        migrations.AddIndex(
            model_name="test",
            index=models.Index(fields=["line"], name="test_line"),
        ),
        migrations.AddIndex(
            model_name="test",
            index=models.Index(
                condition=models.Q(("flaky", True)), fields=["topic", "-flips"], name="test_topic_flaky"
            ),
        ),
        migrations.AddIndex(
            model_name="test",
            index=models.Index(
                condition=models.Q(("flaky", True)), fields=["remoteci", "-flips"], name="test_remoteci_flaky"
            ),
        ),
        # Cases kept before: their file's job and team; no state (they were never compared).
        migrations.RunSQL(
            "UPDATE files_testcase c SET job_id = f.job_id, team_id = f.team_id FROM files_file f "
            "WHERE f.id = c.file_id",
            migrations.RunSQL.noop,
        ),
        migrations.AlterField(
            model_name="testcase",
            name="job",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="testcases",
                to="jobs.job",
            ),
        ),
        migrations.AlterField(
            model_name="testcase",
            name="team",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="teams.team"
            ),
        ),
    ]
