"""The loaded test results are what the server would have computed, had each run been uploaded."""

import random
import uuid
from types import SimpleNamespace

from django.conf import settings

from bench.load import CASE_COLUMNS, TEST_COLUMNS, TEST_FILE, ResultsLine, line_slots, resolve_counts
from files.testresults import Comparison

NULL = "\\N"


def rows_of(text, columns):
    return [dict(zip(columns, line.split("\t"), strict=True)) for line in text.splitlines()]


def known_of(row, job_id):
    """A ``files_test`` row as ``Comparison.load`` reads it for an upload of ``job_id``."""
    age = None if row["set_flip_age"] == NULL else int(row["set_flip_age"])
    since = None if row["failing_since"] == NULL else row["failing_since"]
    return row["outcomes"], row["sets"].strip("{}"), int(row["runs"]), age, row["last_job_id"] == str(job_id), since


def test_a_line_of_tests_holds_what_the_comparison_computes_at_each_upload():
    runs = settings.DCI_FLAKY_RUNS + 10
    topic_id, remoteci_id, team_id = (str(uuid.uuid4()) for _ in range(3))
    line = ResultsLine(
        team_id=team_id, remoteci_id=remoteci_id, topic_id=topic_id, name="tests-0001", first=0, tests=2_000,
        flaky_share=0.2, runs=runs, rng=random.Random(3), window=settings.DCI_FLAKY_RUNS,
        flips=settings.DCI_FLAKY_FLIPS,
    )  # fmt: skip
    # Three component sets, so that some tests pass and fail on one of them.
    sets = ["0000000a" + "0" * 32, "7fffffff" + "0" * 32, "ffffff00" + "0" * 32]
    written, previous, states, baseline = {}, {}, set(), None

    for r in range(runs):
        job = SimpleNamespace(
            id=uuid.uuid4(), topic_id=topic_id, remoteci_id=remoteci_id, name="tests-0001", configuration="", url="",
            components_key=sets[r % 3 if r % 5 else 0], team_id=team_id,
        )  # fmt: skip
        file = SimpleNamespace(id=uuid.uuid4(), name=TEST_FILE)
        text, count, summary = line.run(str(job.id), str(file.id), job.components_key, f"2024-01-{r + 1:02d}")
        rows = rows_of(text, CASE_COLUMNS)
        comparison = Comparison(file, job)
        comparison.previous = dict(previous)
        comparison.known = {test_id: known_of(row, job.id) for test_id, row in written.items()}

        for row in rows:
            assert (row["file_id"], row["job_id"], row["team_id"]) == (str(file.id), str(job.id), team_id)
            if row["state"] == "REMOVED":
                continue
            case = SimpleNamespace(**{name: row[name] for name in ("classname", "name", "suite", "result")})
            test_id, key, state, prev, flaky, since = comparison.case(case)
            expected = (str(test_id), str(key), str(state), prev, "t" if flaky else "f", str(since) if since else NULL)
            assert (row["test_id"], row["key"], row["state"], row["previous_result"], row["flaky"],
                    row["failing_since"]) == expected  # fmt: skip
        removed = {int(row["key"]): row for row in rows if row["state"] == "REMOVED"}
        assert set(removed) == set(comparison.previous)
        assert all(row["result"] == previous[key] == row["previous_result"] for key, row in removed.items())
        assert count == len(rows)
        assert (summary["regressions"], summary["successfixes"], summary["flaky_regressions"]) == (
            comparison.regressions, comparison.successfixes, comparison.flaky_regressions)  # fmt: skip
        assert summary["baseline_id"] == baseline
        # The tests' rows as the upload's upsert leaves them.
        for row in rows_of("".join(comparison._test_rows()), TEST_COLUMNS):
            written[int(row["id"])] = row
        previous = {int(row["key"]): row["result"] for row in rows if row["state"] != "REMOVED"}
        states.update(row["state"] for row in rows)
        baseline = str(file.id)

    tests = {int(row["id"]): row for row in rows_of(line.test_rows()[0], TEST_COLUMNS)}
    assert set(tests) == set(written)
    # All but when: the server writes its clock, the loader the moments of the history.
    moments = ("created_at", "updated_at")
    assert all(
        {k: v for k, v in row.items() if k not in moments} == {k: v for k, v in written[i].items() if k not in moments}
        for i, row in tests.items()
    )
    # Some of each: flaky tests, tests removed and added, failures, recoveries.
    assert sum(row["flaky"] == "t" for row in tests.values()) > 100
    assert states >= {"ADDED", "REMOVED", "UNCHANGED", "REGRESSED", "RECOVERED", "SKIPPED", "UNSKIPPED"}


def test_the_lines_take_every_twentieth_job_and_the_diff_line_two_more():
    counts = resolve_counts(1.0)
    slots = line_slots(counts)

    assert counts["test_lines"] * counts["test_runs"] * counts["test_cases"] >= 10_000_000
    assert sum(1 for slot in slots.values() if slot != "diff") == counts["test_lines"] * counts["test_runs"]
    assert sorted(j for j, slot in slots.items() if slot == "diff") == [199_975, 199_995]
    assert all(j % 20 in (10, 15) for j in slots)
