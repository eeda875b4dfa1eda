"""Measure the JUnit parser on a large report: ``python -m files.bench_junit [--cases 50000]``.

The budget (SPEC §7 as briefed): 50,000 test cases parse in under 2 s and 64 MiB.
Time is measured on a plain run; memory on a second run under ``tracemalloc``
(which slows it down), as the peak of Python allocations while parsing. Exits 1
when over budget. Needs no database: only the parser is measured.
"""

import argparse
import sys
import tempfile
import time
import tracemalloc

from files.junit import JUnitReport

TIME_BUDGET = 2.0
MEMORY_BUDGET = 64 * 1024 * 1024
SUITES = 10


def write_report(out, cases):
    """A pytest-like report: a tenth failing with a traceback, a tenth skipped, some errors, captured output."""
    out.write(b'<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n')
    per_suite = cases // SUITES
    for suite in range(SUITES):
        count = per_suite + (cases % SUITES if suite == SUITES - 1 else 0)
        out.write(f'<testsuite name="suite{suite}" tests="{count}" time="{count * 0.01:.3f}">\n'.encode())
        for index in range(count):
            kind = index % 10
            if kind == 0:
                body = '<failure message="assert 1 == 2">Traceback (most recent call last):\n' + "  frame\n" * 20
                body += "AssertionError</failure>"
            elif kind == 1:
                body = '<skipped type="pytest.skip" message="not on this hardware"/>'
            elif kind == 2 and index % 100 == 2:
                body = '<error message="fixture failed">boom</error>'
            else:
                body = f"<system-out>step {index}: ok\n</system-out>"
            out.write(
                f'<testcase classname="tests.suite{suite}.test_module" name="test_case_{index}" '
                f'time="0.{index % 1000:03d}">{body}</testcase>\n'.encode()
            )
        out.write(b"</testsuite>\n")
    out.write(b"</testsuites>\n")


def parse(report_file):
    report_file.seek(0)
    report = JUnitReport(report_file)
    count = sum(1 for _ in report.testcases())
    return count, report.summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    args = parser.parse_args(argv)

    with tempfile.TemporaryFile() as report_file:
        write_report(report_file, args.cases)
        size = report_file.tell()

        started = time.perf_counter()
        count, summary = parse(report_file)
        elapsed = time.perf_counter() - started

        tracemalloc.start()
        parse(report_file)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    print(f"report: {size / 2**20:.1f} MiB, {count} test cases ({summary.failures} failures, {summary.skips} skips)")
    print(f"parse time: {elapsed:.3f} s (budget {TIME_BUDGET} s)")
    print(f"peak memory while parsing: {peak / 2**20:.1f} MiB (budget {MEMORY_BUDGET // 2**20} MiB)")
    return 0 if elapsed < TIME_BUDGET and peak < MEMORY_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
