"""Files uploaded by agents, and the JUnit results parsed from them."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from dciserver.models import BaseModel, DCIQuerySet, ScopedQuerySet, team_members, through
from teams.models import Team


class StoredBytes:
    """A row whose bytes live in storage under a name made of its id."""

    @property
    def storage_name(self):
        """Where the bytes are stored: named by id, never by the client's ``name``."""
        hexid = self.id.hex
        return f"{hexid[:2]}/{hexid}"


class File(StoredBytes, BaseModel):
    """An uploaded log or report. The bytes live in storage under a name made of the file id."""

    name = models.CharField(max_length=512)
    mime = models.CharField(max_length=255, default="text/plain")
    md5 = models.CharField(max_length=32, blank=True, default="")
    size = models.BigIntegerField(default=0)
    # Indexed by file_job_created and file_team_created, which lead with them.
    job = models.ForeignKey("jobs.Job", on_delete=models.PROTECT, related_name="files", db_index=False)
    jobstate = models.ForeignKey("jobs.JobState", null=True, blank=True, on_delete=models.PROTECT, related_name="files")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="files", db_index=False)

    archived_with = ("job",)

    class Meta:
        indexes = [
            # GET /jobs/<id>/files and /jobs/<id>/results.
            models.Index(fields=["job", "created_at"], name="file_job_created"),
            # GET /files for a team user.
            models.Index(fields=["team", "-created_at"], name="file_team_created"),
            # purge: archived files by age.
            models.Index(fields=["archived_at"], name="file_archived", condition=models.Q(archived_at__isnull=False)),
        ]

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """The members of its team (its job's)."""
        return team_members(user, "team")


class ComponentFile(StoredBytes, BaseModel):
    """A file of a component (SPEC §11: an ISO, a manifest), stored as a job's files are."""

    name = models.CharField(max_length=512)
    mime = models.CharField(max_length=255, default="application/octet-stream")
    md5 = models.CharField(max_length=32, blank=True, default="")
    size = models.BigIntegerField(default=0)
    component = models.ForeignKey("jobs.Component", on_delete=models.PROTECT, related_name="files")

    archived_with = ("component",)

    class Meta:
        verbose_name = "component file"

    def __str__(self):
        return self.name

    @classmethod
    def visible_to(cls, user):
        """Whoever reads its component."""
        return through(cls, "component", user)


class JUnitResultQuerySet(ScopedQuerySet):
    # A result is read while its file is: an archived file's results leave with it.
    readable = models.Q(file__archived_at__isnull=True)


class JUnitResult(models.Model):
    """The summary of one JUnit file, computed once at upload."""

    file = models.OneToOneField(File, primary_key=True, on_delete=models.CASCADE, related_name="junit")
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="junit_results")
    name = models.CharField(max_length=512, blank=True, default="")
    total = models.IntegerField(default=0)
    failures = models.IntegerField(default=0)
    errors = models.IntegerField(default=0)
    skips = models.IntegerField(default=0)
    # Cases that broke, and that were fixed, since the baseline (SPEC §15): zero until computed.
    regressions = models.IntegerField(default=0)
    successfixes = models.IntegerField(default=0)
    # Cases that broke but are of a test flaky on the line: not counted in ``regressions``.
    flaky_regressions = models.IntegerField(default=0)
    # The file it was compared with (its job's is the baseline job), if any.
    baseline_id = models.UUIDField(null=True, blank=True)
    time = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    # Cases that passed, kept by the database from the counts: a column the reader reads with the
    # others, where a property made it build a model object for every result it showed.
    success = models.GeneratedField(
        expression=models.F("total") - models.F("failures") - models.F("errors") - models.F("skips"),
        output_field=models.IntegerField(),
        db_persist=True,
    )
    # Why the file could not be parsed; empty when it was.
    error = models.TextField(blank=True, default="")

    objects = JUnitResultQuerySet.as_manager()

    class Meta:
        verbose_name = "JUnit result"
        indexes = [
            # GET /jobs/<id>/results.
            models.Index(fields=["job"], name="junitresult_job"),
        ]

    def __str__(self):
        return self.name or str(self.file_id)

    @classmethod
    def visible_to(cls, user):
        """Whoever reads its file."""
        return through(cls, "file", user)


class TestCase(models.Model):
    """One test case of a JUnit file, with its state against the baseline (SPEC §15).

    Written at upload by ``files.services`` and ``files.testresults`` (one ``COPY``), never
    parsed again. A case of the baseline missing from the new file is kept as a row of the new
    file too, ``REMOVED``, with the baseline's values.
    """

    class Result(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        ERROR = "error"
        SKIPPED = "skipped"

    class State(models.TextChoices):
        ADDED = "ADDED"
        REMOVED = "REMOVED"
        UNCHANGED = "UNCHANGED"
        # success → failure or error.
        REGRESSED = "REGRESSED"
        # failure or error → success.
        RECOVERED = "RECOVERED"
        # Run before, skipped now; skipped before, run now: reported, never dropped.
        SKIPPED = "SKIPPED"
        UNSKIPPED = "UNSKIPPED"
        # Failing both times, one way then the other (failure ↔ error).
        CHANGED = "CHANGED"

    id = models.BigAutoField(primary_key=True)
    file = models.ForeignKey(File, on_delete=models.CASCADE, related_name="testcases")
    # Its file's job and team, kept on the row: a job's cases and the scope are read without a join.
    job = models.ForeignKey("jobs.Job", on_delete=models.CASCADE, related_name="testcases", db_index=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    # The test it is a run of (``Test.id``, on its line), and what identifies it in any job's file
    # of that name (a diff of two jobs matches cases by it): hashes, see ``files.testresults``.
    test_id = models.BigIntegerField(default=0)
    key = models.BigIntegerField(default=0)
    suite = models.TextField(blank=True, default="")
    classname = models.TextField(blank=True, default="")
    name = models.TextField(blank=True, default="")
    time = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    result = models.CharField(max_length=16, choices=Result.choices)
    message = models.TextField(blank=True, default="")
    type = models.TextField(blank=True, default="")
    state = models.CharField(max_length=16, choices=State.choices, blank=True, default="")
    # The baseline case's result ("" where there is none).
    previous_result = models.CharField(max_length=16, blank=True, default="")
    # Whether the test was flaky on its line when this case ran (then a REGRESSED case is not
    # counted as a regression).
    flaky = models.BooleanField(default=False)
    # For a failing case: the job of its line where the current failure streak began.
    failing_since = models.UUIDField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True, editable=False)

    archived_with = ("file",)

    objects = DCIQuerySet.as_manager()

    class Meta:
        verbose_name = "test case"
        indexes = [
            # GET /jobs/<id>/tests, and a job's side of a diff.
            models.Index(fields=["job", "id"], name="testcase_job"),
            # A test's history on its line, newest first.
            models.Index(fields=["test_id", "-id"], name="testcase_test_newest"),
        ]

    def __str__(self):
        return f"{self.classname}.{self.name}"

    @classmethod
    def visible_to(cls, user):
        """The members of its job's team."""
        return team_members(user, "team")


class Test(models.Model):
    """A test on its line (SPEC §15: one topic, remoteci, job name, configuration and url, one file
    name): what its last runs were, kept at each upload so that history and flakiness are read by
    key, never by scanning the line's runs."""

    # A hash of the line and the test (``files.testresults``): known before any row is read.
    id = models.BigIntegerField(primary_key=True)
    # A hash of the line and the file name: the tests an upload may touch, read at once.
    line = models.BigIntegerField()
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    topic = models.ForeignKey("jobs.Topic", null=True, on_delete=models.CASCADE, related_name="+", db_index=False)
    remoteci = models.ForeignKey("teams.RemoteCI", on_delete=models.CASCADE, related_name="+", db_index=False)
    file_name = models.CharField(max_length=512)
    suite = models.TextField(blank=True, default="")
    classname = models.TextField(blank=True, default="")
    name = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    runs = models.IntegerField(default=0)
    # The outcomes of its last runs (DCI_FLAKY_RUNS at most), newest first, a letter each:
    # s(uccess), f(ailure), e(rror), k (skipped).
    outcomes = models.CharField(max_length=255, blank=True, default="")
    # The component sets those runs ran on (a number per set, same order).
    sets = ArrayField(models.IntegerField(), default=list, blank=True)
    # Changes between passing and failing among those runs (skipped runs left out).
    flips = models.SmallIntegerField(default=0)
    # Runs since it last both passed and failed on one component set (None: not within its runs).
    set_flip_age = models.SmallIntegerField(null=True, blank=True)
    flaky = models.BooleanField(default=False)
    last_result = models.CharField(max_length=16, choices=TestCase.Result.choices)
    last_job_id = models.UUIDField()
    failing_since = models.UUIDField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        indexes = [
            # An upload reads the tests of its line and file name.
            models.Index(fields=["line"], name="test_line"),
            # Flaky tests of a topic and of a remoteci, most flips first.
            models.Index(fields=["topic", "-flips"], condition=models.Q(flaky=True), name="test_topic_flaky"),
            models.Index(fields=["remoteci", "-flips"], condition=models.Q(flaky=True), name="test_remoteci_flaky"),
        ]

    def __str__(self):
        return f"{self.classname}.{self.name}"

    @classmethod
    def visible_to(cls, user):
        """The members of its line's team."""
        return team_members(user, "team")
