"""JUnit reports: the pure parser (with defusedxml: no entity expansion, no external entities), and
`POST /api/v1/pipeline-runs/<id>/test-report` (who may post, content types, errors, the audit event)."""

from __future__ import annotations

import pytest

from mlgov.audit.models import AuditEvent
from mlgov.inventory.junit import JUnitError, JUnitSummary, parse_junit
from tests import factories

PYTEST_REPORT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests">
  <testsuite name="pytest" errors="1" failures="1" skipped="1" tests="5" time="3.21"
             timestamp="2026-11-23T10:02:00" hostname="runner-1">
    <testcase classname="tests.test_model" name="test_auc_above_floor" time="0.51"/>
    <testcase classname="tests.test_model" name="test_calibration" time="0.12">
      <failure message="AssertionError: 0.08 &gt; 0.05">brier too high</failure>
    </testcase>
    <testcase classname="tests.test_data" name="test_schema" time="0.01">
      <error message="fixture 'warehouse' not found">setup failed</error>
    </testcase>
    <testcase classname="tests.test_data" name="test_gpu" time="0.00">
      <skipped type="pytest.skip" message="no GPU">skipped</skipped>
    </testcase>
    <testcase classname="tests.test_data" name="test_drift" time="0.20">
      <system-out>psi=0.02</system-out>
    </testcase>
  </testsuite>
</testsuites>
"""

SUREFIRE_SUITE = b"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" name="com.acme.ScoringTest" time="0.4"
           tests="3" errors="0" skipped="0" failures="1">
  <properties><property name="java.version" value="21"/></properties>
  <testcase name="scoresKnownCard" classname="com.acme.ScoringTest" time="0.1"/>
  <testcase name="rejectsNegativeAmount" classname="com.acme.ScoringTest" time="0.1">
    <failure message="expected 0.0" type="org.opentest4j.AssertionFailedError">stack</failure>
  </testcase>
  <testcase name="scoresBatch" classname="com.acme.ScoringTest" time="0.2"/>
</testsuite>
"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<testsuites><testsuite name="&lol4;" tests="1"><testcase name="x"/></testsuite></testsuites>
"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE testsuites [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuites><testsuite name="&secret;" tests="1"><testcase name="x"/></testsuite></testsuites>
"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE testsuites SYSTEM "http://attacker.example/junit.dtd">
<testsuites><testsuite name="s" tests="1"><testcase name="x"/></testsuite></testsuites>
"""


# --- The parser ---


def test_pytest_report():
    assert parse_junit(PYTEST_REPORT) == JUnitSummary(total=5, failed=1, errors=1, skipped=1, suites=1)
    assert parse_junit(PYTEST_REPORT).passed == 2


def test_a_single_testsuite_root():
    assert parse_junit(SUREFIRE_SUITE) == JUnitSummary(total=3, failed=1, errors=0, skipped=0, suites=1)


def test_nested_suites_and_summary_only_suites():
    report = b"""<testsuites>
      <testsuite name="outer">
        <testsuite name="inner-a"><testcase name="a"/><testcase name="b"><skipped/></testcase></testsuite>
        <testsuite name="inner-b" tests="10" failures="2" errors="1" skipped="3"/>
      </testsuite>
      <testsuite name="disabled-style" tests="4" disabled="1"/>
    </testsuites>"""
    assert parse_junit(report) == JUnitSummary(total=16, failed=2, errors=1, skipped=5, suites=4)


def test_a_case_with_an_error_and_a_failure_counts_once_as_an_error():
    report = b'<testsuite><testcase name="t"><failure/><error/></testcase></testsuite>'
    assert parse_junit(report) == JUnitSummary(total=1, failed=0, errors=1, skipped=0, suites=1)


def test_an_empty_suite_is_zero_tests():
    assert parse_junit(b"<testsuites/>").total == 0


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"   ", "empty"),
        (b"<testsuites><testsuite>", "well-formed"),
        (b"not xml at all", "well-formed"),
        (b'{"tests": 3}', "well-formed"),
        (b"<html><body>502 Bad Gateway</body></html>", "root element"),
        (b'<testsuite tests="many"/>', "non-numeric"),
        (b'<testsuite tests="-3"/>', "negative"),
        (BILLION_LAUGHS, "unsafe"),
        (XXE, "unsafe"),
        (EXTERNAL_DTD, "unsafe"),
        (b"<testsuites>" + b"<testsuite>" * 5000 + b"</testsuite>" * 5000 + b"</testsuites>", "deeply"),
    ],
)
def test_bad_and_hostile_reports_are_refused(data, message):
    with pytest.raises(JUnitError, match=message):
        parse_junit(data)


# --- The API ---


@pytest.fixture
def run(team):
    return factories.PipelineRunFactory(pipeline=factories.PipelineFactory(project=factories.ProjectFactory(team=team)))


def url(run) -> str:
    return f"/api/v1/pipeline-runs/{run.pk}/test-report"


def post(client, run, data: bytes, content_type: str = "application/xml"):
    return client.post(url(run), data=data, content_type=content_type)


@pytest.mark.django_db
def test_a_maintainer_records_a_report_with_audit(api_client_for, maintainer, run):
    response = post(api_client_for(maintainer), run, PYTEST_REPORT)
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["tests_total"], body["tests_failed"], body["tests_errors"], body["tests_skipped"]) == (5, 1, 1, 1)
    run.refresh_from_db()
    assert (run.tests_total, run.tests_failed, run.tests_errors, run.tests_skipped) == (5, 1, 1, 1)
    event = AuditEvent.objects.get(action="pipelinerun.test_report_recorded")
    assert event.target_id == str(run.pk)
    assert event.actor_name == maintainer.username
    assert event.before == {"tests_total": None, "tests_failed": None, "tests_errors": None, "tests_skipped": None}
    assert event.after["tests_total"] == 5
    assert event.request_id == response["X-Request-ID"]


@pytest.mark.django_db
def test_text_xml_with_a_charset_and_a_later_report_replaces_the_counts(api_client_for, maintainer, run):
    client = api_client_for(maintainer)
    assert post(client, run, PYTEST_REPORT).status_code == 200
    response = post(client, run, SUREFIRE_SUITE, "text/xml; charset=utf-8")
    assert response.status_code == 200, response.content
    assert response.json()["tests_total"] == 3
    assert AuditEvent.objects.filter(action="pipelinerun.test_report_recorded").count() == 2
    assert client.get(f"/api/v1/pipeline-runs/{run.pk}/").json()["tests_failed"] == 1


@pytest.mark.django_db
def test_admins_and_service_accounts_may_post(api_client_for, admin_user, run):
    bot = factories.UserFactory(is_service_account=True)
    assert post(api_client_for(admin_user), run, PYTEST_REPORT).status_code == 200
    assert post(api_client_for(bot), run, PYTEST_REPORT).status_code == 200


@pytest.mark.django_db
def test_who_may_not_post(api_client_for, maintainer, member, other_team, run, client):
    other_maintainer = factories.MembershipFactory(team=other_team, role="maintainer").user
    for response in (
        post(api_client_for(member), run, PYTEST_REPORT),
        post(api_client_for(other_maintainer), run, PYTEST_REPORT),
        post(api_client_for(maintainer, scope="read"), run, PYTEST_REPORT),
    ):
        assert response.status_code == 403, response.content
        assert response.json()["error"]["code"] == "permission_denied"
    assert post(client, run, PYTEST_REPORT).status_code == 401
    run.refresh_from_db()
    assert run.tests_total is None
    assert AuditEvent.objects.filter(action="security.permission_denied").count() == 3


@pytest.mark.django_db
def test_an_unassigned_run_takes_reports_from_admins_and_service_accounts_only(api_client_for, maintainer):
    orphan = factories.PipelineRunFactory(pipeline=factories.PipelineFactory(project=None))
    bot = factories.UserFactory(is_service_account=True)
    assert post(api_client_for(maintainer), orphan, PYTEST_REPORT).status_code == 403
    assert post(api_client_for(bot), orphan, PYTEST_REPORT).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("data", [b"<testsuites><oops>", BILLION_LAUGHS, XXE, b""])
def test_bad_xml_is_400_in_the_error_shape(api_client_for, maintainer, run, data):
    response = post(api_client_for(maintainer), run, data)
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert "report" in error["details"]
    run.refresh_from_db()
    assert run.tests_total is None
    assert not AuditEvent.objects.filter(action="pipelinerun.test_report_recorded").exists()


@pytest.mark.django_db
def test_only_xml_content_types(api_client_for, maintainer, run):
    client = api_client_for(maintainer)
    response = client.post(url(run), {"tests": 5}, format="json")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.django_db
def test_an_unknown_run_is_404(api_client_for, admin_user):
    response = api_client_for(admin_user).post(
        "/api/v1/pipeline-runs/999999/test-report", data=PYTEST_REPORT, content_type="application/xml"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
