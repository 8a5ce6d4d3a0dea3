"""JUnit XML test reports -> counts. Pure: no Django.

Accepts a `<testsuites>` root (pytest, Maven Surefire aggregated, Jest, GitLab) or a single `<testsuite>`
root, with suites nested to any depth. Counts come from the `<testcase>` elements when there are any
(a case with `<error>` is an error, else with `<failure>` a failure, else with `<skipped>` skipped), and from
a leaf suite's `tests`/`failures`/`errors`/`skipped` attributes when it lists no cases.

Parsing uses defusedxml with DTDs forbidden: entity expansion ("billion laughs"), external entities (XXE)
and external DTDs are refused, never resolved.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

MAX_SUITES = 100_000


class JUnitError(ValueError):
    """The report is not well-formed JUnit XML, or it tried something unsafe."""


@dataclass(frozen=True)
class JUnitSummary:
    total: int
    failed: int
    errors: int
    skipped: int
    suites: int

    @property
    def passed(self) -> int:
        return max(0, self.total - self.failed - self.errors - self.skipped)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _int_attr(element: Element, *names: str) -> int:
    for name in names:
        raw = element.get(name)
        if raw is None or raw.strip() == "":
            continue
        try:
            value = int(float(raw))
        except ValueError:
            raise JUnitError(f"<{_local(element.tag)}> has a non-numeric {name}={raw!r}.") from None
        if value < 0:
            raise JUnitError(f"<{_local(element.tag)}> has a negative {name}={raw!r}.")
        return value
    return 0


class _Counter:
    def __init__(self) -> None:
        self.total = self.failed = self.errors = self.skipped = self.suites = 0

    def case(self, case: Element) -> None:
        kinds = {_local(child.tag) for child in case}
        self.total += 1
        if "error" in kinds:
            self.errors += 1
        elif "failure" in kinds:
            self.failed += 1
        elif "skipped" in kinds:
            self.skipped += 1

    def suite(self, suite: Element) -> None:
        self.suites += 1
        if self.suites > MAX_SUITES:
            raise JUnitError(f"More than {MAX_SUITES} test suites.")
        cases = [c for c in suite if _local(c.tag) == "testcase"]
        children = [c for c in suite if _local(c.tag) == "testsuite"]
        for case in cases:
            self.case(case)
        for child in children:
            self.suite(child)
        if not cases and not children:  # a summary-only suite
            self.total += _int_attr(suite, "tests")
            self.failed += _int_attr(suite, "failures")
            self.errors += _int_attr(suite, "errors")
            self.skipped += _int_attr(suite, "skipped", "disabled")


def parse_junit(data: bytes) -> JUnitSummary:
    """Count the tests of a JUnit XML report. Raises JUnitError for anything that is not a safe, well-formed report."""
    if not data or not data.strip():
        raise JUnitError("The report is empty.")
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise JUnitError(f"Refused unsafe XML: {type(exc).__name__}.") from None
    except ParseError as exc:
        raise JUnitError(f"Not well-formed XML: {exc}.") from None
    except RecursionError:
        raise JUnitError("The XML is nested too deeply.") from None
    counter = _Counter()
    tag = _local(root.tag)
    try:
        if tag == "testsuites":
            for suite in root:
                if _local(suite.tag) == "testsuite":
                    counter.suite(suite)
        elif tag == "testsuite":
            counter.suite(root)
        else:
            raise JUnitError(f"The root element must be <testsuites> or <testsuite>, not <{tag}>.")
    except RecursionError:
        raise JUnitError("The test suites are nested too deeply.") from None
    return JUnitSummary(
        total=counter.total,
        failed=counter.failed,
        errors=counter.errors,
        skipped=counter.skipped,
        suites=counter.suites,
    )
