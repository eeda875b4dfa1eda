"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis).

Every operation that ``/api/schema/`` documents is fuzzed as each role, through the real WSGI
application, against PostgreSQL: no answer may be a 5xx, and every answer must be one the
schema documents (status code, content type, headers, body).

Schemathesis generates the cases; the loop over operations is ours, not its pytest plugin's
(whose lazy-fixture mode sets a private attribute pytest 9 no longer has). ``DCI_FUZZ_EXAMPLES``
raises the number of examples per operation and mode, ``DCI_FUZZ_SEED`` picks a random seed
instead of the derandomized default (the suite must not be flaky: CI runs the same cases
every time; docs/reliability.md tells how long runs went).
"""

import collections
import contextlib
import os
import uuid

import hypothesis
import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as generic_checks
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from conftest import PASSWORD, basic

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("DCI_FUZZ_EXAMPLES", "10"))
SEED = os.environ.get("DCI_FUZZ_SEED")
ROLES = ("super_admin", "team_admin", "user", "other_user")
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def negative_data_rejection(ctx, response, case):
    """Schema-violating requests are refused, with two exceptions the schema cannot express:

    - a raw upload: with a ``DCI-NAME`` header the body is the file's bytes whatever they look
      like (SPEC §6), so the JSON body schema (which OpenAPI cannot make depend on a header)
      does not apply;
    - a string with whitespace at either end: DRF trims it before checking its length, so a
      name one character too long that ends in a space is a valid name.
    """
    if "DCI-NAME" in (case.headers or {}):
        return None
    if isinstance(case.body, dict) and any(isinstance(v, str) and v != v.strip() for v in case.body.values()):
        return None
    return openapi_checks.negative_data_rejection(ctx, response, case)


# Schemathesis checks left out, and why:
# - positive_data_acceptance: a schema-valid request is rightly refused for who asks (403), what it
#   names (404: another team's or a made-up id), its etag (412) or a taken name (422); who may do
#   what is proved route by route in test_route_matrix.py instead.
# - ignored_auth: every case is sent with credentials; anonymous and wrong-password calls of every
#   route and method are rows of the route matrix.
# - use_after_free, ensure_resource_availability, object_level_authorization: stateful checks
#   that follow OpenAPI links between operations, which this schema does not declare.
# - max_response_time: speed is the benchmark's business (bench/), not a unit test's.
# - allow_header_conformance: only judges 405 answers, which generated cases never get
#   (they use the documented methods; unserved methods are in the route matrix).
CHECKS = [
    generic_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.missing_required_header,
    openapi_checks.unsupported_method,
]
# Only for the cases generated as negative: a positive case whose ids the hook below replaced is
# re-labelled by schemathesis' revalidation (a PATCH without a body, say) though it is as valid.
NEGATIVE_CHECKS = [*CHECKS, negative_data_rejection]

# Ids of rows the fixture made, by kind. In a positive case, a generated id (in the path or a
# ``*_id`` body field) is replaced by one of these half of the time, and half of the positive
# writes carry the row's current etag in ``If-Match``, so the fuzzer gets past "not found" and
# "etag mismatch" into the code that reads and writes real rows, including the other team's
# (which must stay invisible). Negative cases are left as generated: their wrong values are the point.
KNOWN = {}
MODELS = {
    "team": "teams.Team",
    "user": "teams.User",
    "remoteci": "teams.RemoteCI",
    "topic": "jobs.Topic",
    "component": "jobs.Component",
    "jobdefinition": "jobs.JobDefinition",
    "job": "jobs.Job",
}


def flatmap_case(context, case):
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return st.just(case)
    ids = {}
    kind = _kind_of(context.operation.path)
    if "id" in (case.path_parameters or {}) and KNOWN.get(kind):
        ids[("path", "id")] = KNOWN[kind]
    if "team_id" in (case.path_parameters or {}):
        ids[("path", "team_id")] = KNOWN["team"]
    if isinstance(case.body, dict):
        for key in case.body:
            if key.endswith("_id") and key[:-3] in KNOWN:
                ids[("body", key)] = KNOWN[key[:-3]]
        if "components" in case.body:
            ids[("body", "components")] = [[value] for value in KNOWN["component"]]
    if not ids:
        return st.just(case)
    known = st.fixed_dictionaries({place: st.sampled_from(values) for place, values in ids.items()})
    return st.one_of(st.just(case), known.map(lambda chosen: _with_ids(case, chosen)))


def _with_ids(case, chosen):
    path_parameters, body = dict(case.path_parameters or {}), case.body
    if isinstance(body, dict):
        body = dict(body)
    for (where, key), value in chosen.items():
        (path_parameters if where == "path" else body)[key] = value
    case.path_parameters, case.body = path_parameters, body
    return case


def _current_etag(case, caller):
    """The etag of the row ``case`` writes, as it is now (the caller's own for ``/users/me``)."""
    from django.apps import apps

    kind = _kind_of(case.operation.path)
    key = (case.path_parameters or {}).get("id")
    if kind not in MODELS or (key is None and kind != "user"):
        return "no-such-row"
    model = apps.get_model(MODELS[kind])
    rows = model.objects.all()
    if key is None:
        rows = rows.filter(pk=caller.pk)
    else:
        try:
            rows = rows.filter(pk=uuid.UUID(key))
        except ValueError:
            if not any(field.name == "name" for field in model._meta.fields):
                return "no-such-row"
            rows = rows.filter(name=key).order_by("-created_at")
    row = rows.first()
    return row.etag if row is not None else "no-such-row"


def _keep_credentials(caller):
    """A fuzzed PUT may change the caller's own password (they may): set it back, or every
    later case would be a 401."""
    fresh = type(caller).objects.get(pk=caller.pk)
    if not fresh.check_password(PASSWORD):
        fresh.set_password(PASSWORD)
        fresh.save(update_fields=["password"])


def _kind_of(path):
    """``/api/v1/jobs/{id}/files`` → ``job``: the kind of row the ``{id}`` names."""
    parts = path.strip("/").split("/")
    return parts[2].removesuffix("s") if len(parts) > 2 else None


CONFIG = {
    # The caller's credentials are ours (one role per run); generated ones would only be 401s.
    "generation": {"with-security-parameters": False},
    "checks": {
        # A request refused for its precondition (412: no or a stale If-Match, which the fuzzer cannot
        # know) or its size (411, 413) is rejected too, before its body is looked at.
        "negative_data_rejection": {
            "expected-statuses": ["400", "401", "403", "404", "405", "411", "412", "413", "422"]
        }
    },
}


@contextlib.contextmanager
def connections_kept():
    """Django's WSGI handler closes "old" connections around every request, as it should in
    production; inside a test that would end the test's transaction, so (as Django's own test
    client does) the handler does not here."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture(scope="session")
def api_schema():
    config = schemathesis.config.SchemathesisConfig.from_dict(CONFIG)
    with connections_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", WSGIHandler(), config=config)
    schema.hook(flatmap_case)
    return schema


@pytest.fixture
def in_test_transaction():
    with connections_kept():
        yield


@pytest.fixture
def fuzz_world(file, jobstate, colleague, other_remoteci, other_topic, user, other_user):
    """The lab's rows (a job with a jobstate, a file, a colleague), the rival lab's, and an audit entry."""
    from dciserver.models import AuditLog

    job = jobstate.job
    audit = AuditLog.objects.create(
        user=user,
        user_name=user.name,
        team=user.team,
        action="create",
        resource="job",
        method="POST",
        path="/api/v1/jobs",
        status_code=201,
    )
    KNOWN.clear()
    KNOWN.update(
        team=[str(user.team_id), str(other_user.team_id), "lab"],
        user=[str(colleague.pk), str(user.pk), str(other_user.pk), colleague.name],
        remoteci=[str(job.remoteci_id), str(other_remoteci.pk)],
        topic=[str(job.topic_id), str(other_topic.pk)],
        component=[str(c.pk) for c in job.components.all()],
        jobdefinition=[str(job.jobdefinition_id)],
        job=[str(job.pk)],
        jobstate=[str(jobstate.pk)],
        file=[str(file.pk)],
        audit=[str(audit.pk)],
    )
    yield KNOWN
    KNOWN.clear()


def describe(failure, case, response):
    """A failure in a few lines: what was wrong, what was answered, and the request to replay it."""
    return "\n    ".join(
        [
            f"{failure.title}: {' '.join(failure.message.split())[:400]}",
            f"answered {response.status_code}: {response.text[:300]!r}",
            case.as_curl_command(),
        ]
    )


def fuzz_operation(operation, mode, caller, outcome, failures):
    """Run ``EXAMPLES`` generated cases of one operation, recording each distinct failure once.

    Failures are recorded rather than raised: a raised failure makes Hypothesis replay the
    case, and a replayed write meets a database the first call changed (a 201, then a 422).
    """
    headers = {"Authorization": basic(caller.name)}
    takes_etag = any(parameter.name == "If-Match" for parameter in operation.headers)

    @hypothesis.settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED is None,
        database=None,
        # No shrinking: a failure is reported as generated, with its curl command, in seconds.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode), current_etag=st.booleans())
    def run(case, current_etag):
        sent = dict(headers)
        if current_etag and takes_etag and mode.is_positive:
            # Sent beside the case, not written into it: an edited case is re-labelled by schemathesis.
            sent["If-Match"] = _current_etag(case, caller)
        response = case.call(headers=sent)
        outcome[response.status_code] += 1
        if case.method in ("PUT", "PATCH") and response.status_code < 300:
            _keep_credentials(caller)
        try:
            case.validate_response(response, checks=NEGATIVE_CHECKS if mode.is_negative else CHECKS, headers=sent)
        except FailureGroup as group:
            for failure in group.exceptions:
                failures.setdefault((operation.label, mode, failure.title), describe(failure, case, response))

    if SEED is not None:
        run = hypothesis.seed(int(SEED))(run)
    run()


@pytest.mark.parametrize("role", ROLES)
def test_every_operation_answers_generated_requests_as_its_schema_says(
    request, api_schema, fuzz_world, in_test_transaction, role
):
    caller = request.getfixturevalue(role)
    outcome = collections.Counter()
    failures = {}

    for result in api_schema.get_all_operations():
        operation = result.ok()
        # An operation whose only inputs are its path, its headers (strings whatever they hold)
        # and raw bytes (any bytes are a body) has nothing a negative case could get wrong:
        # Hypothesis would search in vain.
        typed = [body for body in operation.body if body.media_type != "application/octet-stream"]
        negatable = bool(typed or list(operation.query))
        for mode in MODES if negatable else MODES[:1]:
            fuzz_operation(operation, mode, caller, outcome, failures)

    print(f"fuzz as {role}: {sum(outcome.values())} requests, statuses {dict(sorted(outcome.items()))}")
    assert not failures, "\n\n".join(f"{label} ({mode}):\n    {text}" for (label, mode, _), text in failures.items())
    assert not any(status >= 500 for status in outcome)
