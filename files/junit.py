"""A hardened, streaming JUnit parser (SPEC §7).

Uploaded reports come from anyone holding an agent's credentials, so the parser
must survive hostile XML: it runs on defusedxml's expat parser, which refuses entity
declarations (no billion laughs) and external references (no ``file:///etc/passwd``),
and it never builds a tree. A callback target sees each element as it streams past
and keeps only what is stored: the counts, and each test case's fields with its
message capped. Memory is therefore flat whatever the size of the report, and a huge
``<system-out>`` costs parsing time only.
"""

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import ParseError

from defusedxml import EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import DefusedXMLParser

READ_SIZE = 1024 * 1024
# A test case's outcome is told by its first child among these (none: success).
OUTCOMES = {"failure": "failure", "error": "error", "skipped": "skipped"}
# Longer messages are cut: one traceback per test case must not bloat the table.
MESSAGE_MAX = 16 * 1024
MILLISECOND = Decimal("0.001")
# Times are stored as DECIMAL(14, 3): sums of hostile values are capped to fit.
TIME_LIMIT = Decimal(10) ** 11
TIME_MAX = TIME_LIMIT - MILLISECOND


class JUnitError(Exception):
    """The file is not a usable JUnit report; the message says why (it is shown in the results)."""


@dataclass
class Case:
    classname: str
    name: str
    time: Decimal
    suite: str = ""
    result: str = "success"
    message: str = ""
    type: str = ""


@dataclass
class Summary:
    name: str = ""
    total: int = 0
    failures: int = 0
    errors: int = 0
    skips: int = 0
    time: Decimal = Decimal(0)


def seconds(raw):
    """A ``time`` attribute as a Decimal; what cannot be read as a sane duration counts as 0."""
    try:
        value = Decimal((raw or "0").replace(",", ""))
    except InvalidOperation:
        return Decimal(0)
    if not value.is_finite() or abs(value) >= TIME_LIMIT:
        return Decimal(0)
    return value.quantize(MILLISECOND)


class JUnitReport:
    """One report read from a binary file object.

    Iterate ``testcases()`` to the end (test cases come out as they stream past);
    ``summary`` then holds the totals. The counts are those of the test cases
    actually present, so a report whose suite attributes lie is still counted right.
    The time is the sum of the top-level suites' ``time`` (which includes set-up and
    tear-down), or of their test cases' times when a suite has none.
    """

    def __init__(self, fileobj):
        self.fileobj = fileobj
        self.summary = Summary()
        # Whether the root element is a test suite (known once parsing reached it).
        self.is_junit = False
        self._ready = []
        self._depth = 0
        self._open_suites = 0
        # The names of the open test suites, innermost last: a case belongs to the innermost.
        self._suites = []
        # The top-level suite being read: its own time (None when absent) and its cases' times.
        self._suite_time = None
        self._suite_cases_time = Decimal(0)
        self._case = None
        self._case_depth = 0
        # The text of an outcome element without a ``message`` attribute, while it is read.
        self._text = None
        self._text_size = 0

    def testcases(self):
        parser = DefusedXMLParser(target=self, forbid_dtd=False, forbid_entities=True, forbid_external=True)
        try:
            while chunk := self.fileobj.read(READ_SIZE):
                parser.feed(chunk)
                ready, self._ready = self._ready, []
                yield from ready
            parser.close()
            self.summary.time = min(self.summary.time, TIME_MAX)
        except EntitiesForbidden as exc:
            raise JUnitError(f"refused: the report declares the XML entity {exc.name!r}; entities are not expanded")
        except ExternalReferenceForbidden as exc:
            raise JUnitError(f"refused: the report references an external resource ({exc.sysid})")
        except ParseError as exc:
            raise JUnitError(f"not well-formed XML: {exc}")
        yield from self._ready

    # The parser's target interface -----------------------------------------

    def start(self, tag, attrib):
        tag = tag.rpartition("}")[2]
        self._depth += 1
        if self._depth == 1:
            if tag not in ("testsuite", "testsuites"):
                raise JUnitError(f"not a JUnit report: the root element is <{tag}>, not <testsuite> or <testsuites>")
            self.is_junit = True
            self.summary.name = attrib.get("name", "")
        if tag == "testsuite":
            if self._open_suites == 0:
                self._suite_time = seconds(attrib["time"]) if attrib.get("time") else None
                self._suite_cases_time = Decimal(0)
                self.summary.name = self.summary.name or attrib.get("name", "")
            self._open_suites += 1
            self._suites.append(attrib.get("name", ""))
        elif tag == "testcase" and self._case is None:
            suite = self._suites[-1] if self._suites else ""
            self._case = Case(attrib.get("classname", ""), attrib.get("name", ""), seconds(attrib.get("time")), suite)
            self._case_depth = self._depth
        elif tag in OUTCOMES and self._at_case_child() and self._case.result == "success":
            self._case.result = OUTCOMES[tag]
            self._case.message = attrib.get("message", "")[:MESSAGE_MAX]
            self._case.type = attrib.get("type", "")[:MESSAGE_MAX]
            if not self._case.message:
                self._text, self._text_size = [], 0

    def data(self, text):
        if self._text is not None and self._text_size < MESSAGE_MAX:
            self._text.append(text)
            self._text_size += len(text)

    def end(self, tag):
        tag = tag.rpartition("}")[2]
        if self._text is not None and self._at_case_child():
            self._case.message = "".join(self._text).strip()[:MESSAGE_MAX]
            self._text = None
        elif tag == "testcase" and self._depth == self._case_depth:
            self._finish(self._case)
            self._case, self._case_depth = None, 0
        elif tag == "testsuite":
            self._open_suites -= 1
            self._suites.pop()
            if self._open_suites == 0:
                own = self._suite_time
                self.summary.time += own if own is not None else self._suite_cases_time
        self._depth -= 1

    def close(self):
        return self.summary

    def _at_case_child(self):
        return self._case is not None and self._depth == self._case_depth + 1

    def _finish(self, case):
        summary = self.summary
        summary.total += 1
        if case.result == "failure":
            summary.failures += 1
        elif case.result == "error":
            summary.errors += 1
        elif case.result == "skipped":
            summary.skips += 1
        if self._open_suites:
            self._suite_cases_time += case.time
        else:
            summary.time += case.time
        self._ready.append(case)
