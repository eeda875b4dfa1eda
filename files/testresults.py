"""Test results as data (SPEC §15): each case's state against its baseline, each test's runs on
its line, flaky tests; all of it computed once, at upload, as the cases stream past.

A **line** is a job's topic, remoteci, name, configuration and url; a **test** is a case of a
file name on a line, identified by its classname and name (its suite may change: a case moved
between suites is the same test). Two cases of one file with the same classname and name are
told apart by their suite, then by their order. Identities are 63-bit hashes computed here, known
before any row is read: a case's ``key`` (file name and test, the same in any job: diffs match by
it) and its ``test_id`` (the key on its line: the ``Test`` row and the history index).

Per upload this reads the baseline file's cases and the line's ``Test`` rows for that file name
(one statement each), writes the cases with their states in one ``COPY``, the baseline's cases
missing from the file as ``REMOVED`` rows with one ``INSERT … SELECT``, and the ``Test`` rows with
one upsert. Memory grows with the number of tests of the file, never with its size.
"""

import functools
import hashlib
import re

from django.conf import settings
from django.db import connection
from django.utils import timezone

from files.models import TestCase

State, Result = TestCase.State, TestCase.Result
LETTER = {Result.SUCCESS: "s", Result.FAILURE: "f", Result.ERROR: "e", Result.SKIPPED: "k"}
_MASK = (1 << 63) - 1


def h64(text):
    """A non-negative 63-bit hash of ``text``: the identities of lines, tests and cases."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & _MASK


def line_of(job, file_name):
    """The hash of ``job``'s line and ``file_name``: the ``Test.line`` of the tests of that file."""
    parts = (str(job.topic_id or ""), str(job.remoteci_id), job.name, job.configuration, job.url, file_name)
    return h64("\x1f".join(parts))


def state_of(previous, result):
    """A case's state given its baseline case's result (``None``: none)."""
    if previous is None:
        return State.ADDED
    if previous == result:
        return State.UNCHANGED
    if result == Result.SKIPPED:
        return State.SKIPPED
    if previous == Result.SKIPPED:
        return State.UNSKIPPED
    if previous == Result.SUCCESS:
        return State.REGRESSED
    if result == Result.SUCCESS:
        return State.RECOVERED
    return State.CHANGED


def state_sql(previous, current):
    """``state_of`` as SQL on the rows aliased ``previous`` and ``current`` (either may be missing:
    a full join), written from ``state_of`` itself: one definition of the states."""
    pairs = " ".join(
        f"WHEN '{before}>{after}' THEN '{state_of(before, after)}'" for before in Result for after in Result
    )
    return (
        f"CASE WHEN {previous}.id IS NULL THEN '{State.ADDED}' WHEN {current}.id IS NULL THEN '{State.REMOVED}' "
        f"ELSE CASE {previous}.result || '>' || {current}.result {pairs} END END"
    )


@functools.lru_cache(maxsize=8192)
def flips_of(outcomes):
    """Changes between passing and failing in ``outcomes`` (letters), skipped runs left out."""
    runs = outcomes.replace("k", "").replace("e", "f")
    return sum(1 for before, after in zip(runs, runs[1:], strict=False) if before != after)


def set_of(components_key):
    """A component set as a number (32 bits of its key): runs on one set are compared."""
    return int(components_key[:8], 16) - (1 << 31) if components_key else 0


BASELINE_SQL = """
SELECT (
    SELECT f.id FROM files_file f JOIN files_junitresult r ON r.file_id = f.id
    WHERE f.job_id = j.id AND f.name = %s AND f.archived_at IS NULL AND r.error = ''
    ORDER BY f.created_at DESC LIMIT 1)
FROM jobs_job j
WHERE j.remoteci_id = %s AND {topic} AND j.name = %s AND j.configuration = %s AND j.url = %s
  AND j.created_at < %s AND j.id <> %s AND j.archived_at IS NULL
ORDER BY j.created_at DESC LIMIT 1
"""


def baseline_of(job, file_name):
    """The id of the baseline of ``job``'s file ``file_name`` (SPEC §15): the newest parsed file of
    that name of the newest earlier live job of its line; ``None`` when that job has none, or the
    line has no earlier job (its job is the file's: the JUnit route reads it from there)."""
    topic = "j.topic_id IS NULL" if job.topic_id is None else "j.topic_id = %s"
    params = [file_name, job.remoteci_id, *([job.topic_id] if job.topic_id else [])]
    params += [job.name, job.configuration, job.url, job.created_at, job.id]
    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL.format(topic=topic), params)
        row = cursor.fetchone()
    return row[0] if row is not None else None


TEST_COLUMNS = (
    "id, line, team_id, topic_id, remoteci_id, file_name, suite, classname, name, created_at, updated_at, "
    "runs, outcomes, sets, flips, set_flip_age, flaky, last_result, last_job_id, failing_since"
)
# What a run changes in a test's row (its identity and creation stay).
_UPDATED = (
    "suite, classname, name, updated_at, runs, outcomes, sets, flips, set_flip_age, flaky, last_result, "
    "last_job_id, failing_since"
)
UPSERT_TESTS = (
    f"INSERT INTO files_test ({TEST_COLUMNS}) SELECT {TEST_COLUMNS} FROM incoming_tests "
    f"ON CONFLICT (id) DO UPDATE SET ({_UPDATED}) = ("
    + ", ".join(f"EXCLUDED.{column}" for column in _UPDATED.split(", "))
    + ")"
)
REMOVED_SQL = """
INSERT INTO files_testcase (file_id, job_id, team_id, test_id, key, suite, classname, name, time, result,
                            message, type, state, previous_result, flaky, failing_since)
SELECT %s, %s, %s, b.test_id, b.key, b.suite, b.classname, b.name, b.time, b.result,
       b.message, b.type, 'REMOVED', b.result, b.flaky, NULL
FROM files_testcase b WHERE b.file_id = %s AND b.state <> 'REMOVED' AND b.key = ANY(%s::bigint[])
"""


class Comparison:
    """One upload's cases compared as they stream past (``case``), then ``finish``ed: the
    ``REMOVED`` rows and the tests' rows written. Runs in the upload's transaction, after the
    line's lock (``lock``): uploads of one line and file name are compared one after the other,
    so no run of a test is lost to another."""

    def __init__(self, file, job):
        self.file, self.job = file, job
        self.runs = settings.DCI_FLAKY_RUNS
        self.flip_limit = settings.DCI_FLAKY_FLIPS
        self.line = line_of(job, file.name)
        self.set = set_of(job.components_key)
        self.now = timezone.now()
        self.regressions = self.successfixes = self.flaky_regressions = 0
        self.seen = set()
        self.repeats = {}
        self.tests = []  # the tests' rows, for the upsert
        self.baseline_id = None
        self.previous = {}
        self.known = {}

    def lock(self):
        """Serialize the uploads of this line and file name until the transaction ends."""
        with connection.cursor() as cursor:
            # The two-key form: a key space apart from the one-key locks of job events.
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [self.line >> 32, self.line & 0x7FFFFFFF])

    def load(self):
        """Read the baseline's cases and the tests of the line (after ``lock``)."""
        self.baseline_id = baseline_of(self.job, self.file.name)
        with connection.cursor() as cursor:
            if self.baseline_id is not None:
                cursor.execute(
                    "SELECT key, result FROM files_testcase WHERE file_id = %s AND state <> 'REMOVED'",
                    [self.baseline_id],
                )
                self.previous = dict(cursor.fetchall())
            # Read as the text it is written back as: no value made into a Python object for nothing.
            cursor.execute(
                "SELECT id, outcomes, array_to_string(sets, ','), runs, set_flip_age, last_job_id = %s, "
                "failing_since::text FROM files_test WHERE line = %s",
                [self.job.id, self.line],
            )
            self.known = {row[0]: row[1:] for row in cursor.fetchall()}

    def case(self, case):
        """``(test_id, key, state, previous result, flaky, failing since)`` of a parsed case."""
        base = f"{self.file.name}\x1f{case.classname}\x1f{case.name}"
        key = h64(base)
        if key in self.seen:  # the same classname and name twice in one file: told apart by suite, then order
            qualified = key = h64(f"{base}\x1f{case.suite}")
            # Numbered from the last one given: a hostile file of one case repeated costs no more per case.
            number = self.repeats.get(qualified, 1)
            while key in self.seen:
                number += 1
                key = h64(f"{base}\x1f{case.suite}\x1f{number}")
            self.repeats[qualified] = number
        self.seen.add(key)
        test_id = h64(f"{self.line}:{key}")
        previous = self.previous.pop(key, None)
        state = state_of(previous, case.result)
        flaky, failing_since = self._run(test_id, case)
        if state == State.REGRESSED:
            if flaky:
                self.flaky_regressions += 1
            else:
                self.regressions += 1
        elif state == State.RECOVERED:
            self.successfixes += 1
        return test_id, key, state, previous or "", flaky, failing_since

    def _run(self, test_id, case):
        """Record the run of ``case`` in its test's row: ``(flaky, failing since)``."""
        letter = LETTER[case.result]
        known = self.known.get(test_id)
        ran_on = str(self.set)
        if known is None:
            outcomes, sets, runs, age, since = letter, ran_on, 1, None, None
        else:
            # ``sets``: the sets' numbers as text, "1,-2,3", one per outcome.
            old, old_sets, runs, age, same_job, since = known
            if same_job:  # the job's file of that name again: it replaces the job's run
                old, old_sets = old[1:], old_sets.partition(",")[2]
            else:
                runs += 1
            age = self._set_flip_age(letter, old, old_sets, age, ran_on)
            outcomes, sets = letter + old, f"{ran_on},{old_sets}" if old_sets else ran_on
            if len(outcomes) > self.runs:
                outcomes, sets = outcomes[: self.runs], sets.rpartition(",")[0]
        flips = flips_of(outcomes)
        flaky = flips >= self.flip_limit or age is not None
        if letter == "s":
            since = None
        elif letter != "k":
            since = since or str(self.job.id)
        self.tests.append((test_id, case, runs, outcomes, sets, flips, age, flaky, since))
        return flaky, since if letter in "fe" else None

    def _set_flip_age(self, letter, old, old_sets, age, ran_on):
        """Runs since the test both passed and failed on one component set, within the last
        ``runs`` runs (``None``: not in them)."""
        opposite = {"s": "fe", "f": "s", "e": "s"}.get(letter, "")
        if any(o in old for o in opposite):  # rarely: most tests keep their outcome
            for before, other in zip(old[: self.runs - 1], old_sets.split(","), strict=False):
                if before in opposite and other == ran_on:
                    return 0
        if age is None or age + 1 >= self.runs:
            return None
        return age + 1

    def finish(self, cursor, copy):
        """Write the ``REMOVED`` rows and the tests' rows (``copy(sql, rows)`` streams COPY text)."""
        if self.previous:
            job = self.job
            cursor.execute(REMOVED_SQL, [self.file.id, job.id, job.team_id, self.baseline_id, list(self.previous)])
        if not self.tests:
            return
        cursor.execute("CREATE TEMP TABLE incoming_tests (LIKE files_test) ON COMMIT DROP")
        copy(f"COPY incoming_tests ({TEST_COLUMNS}) FROM STDIN", self._test_rows())
        cursor.execute(UPSERT_TESTS)
        cursor.execute("DROP TABLE incoming_tests")

    def _test_rows(self):
        job, name, now = self.job, self.file.name, self.now.isoformat()
        # A new test's creation; an upsert keeps a known test's.
        fixed = f"{self.line}\t{job.team_id}\t{job.topic_id or NULL}\t{job.remoteci_id}\t{copy_text(name)}\t"
        last = f"\t{job.id}\t"
        for test_id, case, runs, outcomes, sets, flips, age, flaky, since in self.tests:
            yield (
                f"{test_id}\t{fixed}{copy_text(case.suite)}\t{copy_text(case.classname)}\t{copy_text(case.name)}\t"
                f"{now}\t{now}\t{runs}\t{outcomes}\t{{{sets}}}\t{flips}\t{NULL if age is None else age}\t"
                f"{'t' if flaky else 'f'}\t{case.result}{last}{NULL if since is None else since}\n"
            )


# Characters that COPY's text format escapes; NUL is dropped (PostgreSQL text cannot hold it).
_COPY_SPECIAL = re.compile("[\\\\\t\n\r\x00]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\x00": ""}
NULL = "\\N"


def copy_text(value):
    """``value`` as a field of COPY's text format."""
    if _COPY_SPECIAL.search(value):
        return _COPY_SPECIAL.sub(lambda match: _COPY_ESCAPES[match.group()], value)
    return value
