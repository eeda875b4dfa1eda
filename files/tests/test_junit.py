"""The JUnit parser: counts, outcomes, several suites, and hostile or broken reports."""

import io
from decimal import Decimal

import pytest

from files.junit import MESSAGE_MAX, JUnitError, JUnitReport, Summary
from files.tests.helpers import BILLION_LAUGHS, EXTERNAL_ENTITY, PYTEST


def parse(xml):
    report = JUnitReport(io.BytesIO(xml.encode() if isinstance(xml, str) else xml))
    cases = list(report.testcases())
    return report.summary, cases


def test_it_summarises_a_pytest_report():
    summary, cases = parse(PYTEST)

    assert summary == Summary(name="pytest", total=3, failures=0, errors=0, skips=1, time=Decimal("46.050"))
    assert [(c.classname, c.name, c.time, c.result) for c in cases] == [
        ("tests.test_api", "test_ok", Decimal("0.010"), "success"),
        ("tests.test_api", "test_also_ok", Decimal("1.500"), "success"),
        ("tests.test_api", "test_later", Decimal("0.000"), "skipped"),
    ]
    assert cases[2].message == "not on this hardware"


def test_it_sums_several_suites():
    summary, cases = parse(
        """<testsuites name="all">
          <testsuite name="unit" time="1.25">
            <testcase name="a"/><testcase name="b"><failure message="boom"/></testcase>
          </testsuite>
          <testsuite name="functional" time="2.5">
            <testcase name="c"><error message="crash"/></testcase><testcase name="d"><skipped/></testcase>
          </testsuite>
        </testsuites>"""
    )

    assert summary == Summary(name="all", total=4, failures=1, errors=1, skips=1, time=Decimal("3.750"))
    assert [c.result for c in cases] == ["success", "failure", "error", "skipped"]


def test_a_suite_without_time_counts_its_cases_times_and_nested_suites_count_once():
    summary, _ = parse(
        """<testsuite name="outer">
          <testcase name="a" time="1.5"/>
          <testsuite name="inner" time="100"><testcase name="b" time="2"/></testsuite>
        </testsuite>"""
    )

    assert (summary.total, summary.time) == (2, Decimal("3.500"))


def test_the_counts_are_those_of_the_cases_present_not_the_attributes():
    summary, _ = parse('<testsuite name="liar" tests="99" failures="42"><testcase name="a"/></testsuite>')

    assert (summary.total, summary.failures) == (1, 0)


def test_a_message_without_attribute_is_the_elements_text_capped():
    long_trace = "Traceback\n" + "x" * (2 * MESSAGE_MAX)
    _, cases = parse(f'<testsuite><testcase name="a"><failure>  {long_trace}  </failure></testcase></testsuite>')

    assert cases[0].result == "failure"
    assert cases[0].message.startswith("Traceback\nxxx")
    assert len(cases[0].message) == MESSAGE_MAX


def test_the_first_outcome_of_a_case_wins():
    _, cases = parse('<testsuite><testcase name="a"><failure message="f"/><error message="e"/></testcase></testsuite>')

    assert (cases[0].result, cases[0].message) == ("failure", "f")


def test_namespaced_and_odd_times_are_read_leniently():
    summary, cases = parse(
        '<j:testsuite xmlns:j="urn:x" name="ns" time="1,234.5">'
        '<j:testcase name="a" time="abc"/><j:testcase name="b" time="1e400"/></j:testsuite>'
    )

    assert (summary.name, summary.total, summary.time) == ("ns", 2, Decimal("1234.500"))
    assert [c.time for c in cases] == [0, 0]


def test_cases_stream_out_before_the_end_of_the_file_is_read():
    data = b'<testsuite><testcase name="a"/>' + b"<testcase/>" * 200_000 + b"</testsuite>"
    fileobj = io.BytesIO(data)

    first = next(JUnitReport(fileobj).testcases())

    assert first.name == "a"
    assert fileobj.tell() < len(data)


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        (BILLION_LAUGHS, "entity 'lol'"),
        (EXTERNAL_ENTITY, "entity 'xxe'"),
        ("<testsuite><testcase name='a'>", "not well-formed XML"),
        ("", "not well-formed XML"),
        ("\x89PNG\r\n\x1a\n binary", "not well-formed XML"),
        ("<html><body/></html>", "root element is <html>"),
    ],
    ids=["billion-laughs", "external-entity", "truncated", "empty", "garbage", "not-junit"],
)
def test_a_hostile_or_broken_report_is_refused_with_the_reason(xml, why):
    with pytest.raises(JUnitError, match=why):
        parse(xml)


def test_a_harmless_doctype_is_accepted():
    summary, _ = parse('<!DOCTYPE testsuite><testsuite name="s"><testcase name="a"/></testsuite>')

    assert summary.total == 1
