"""Files uploaded by agents, and the JUnit results parsed from them."""

from django.db import models

from dciserver.models import BaseModel, ScopedQuerySet, team_members, through
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
    """One test case of a JUnit file."""

    class Result(models.TextChoices):
        SUCCESS = "success"
        FAILURE = "failure"
        ERROR = "error"
        SKIPPED = "skipped"

    id = models.BigAutoField(primary_key=True)
    result_file = models.ForeignKey(JUnitResult, on_delete=models.CASCADE, related_name="testcases")
    classname = models.TextField(blank=True, default="")
    name = models.TextField(blank=True, default="")
    time = models.DecimalField(max_digits=14, decimal_places=3, default=0)
    result = models.CharField(max_length=16, choices=Result.choices)
    message = models.TextField(blank=True, default="")

    class Meta:
        verbose_name = "test case"

    def __str__(self):
        return f"{self.classname}.{self.name}"
