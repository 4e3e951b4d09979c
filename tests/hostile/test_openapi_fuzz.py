"""The API fuzzed from its own OpenAPI spec with schemathesis: no 5xx, answers as documented.

Every operation of /openapi.json gets positive cases (valid by the schema) and negative ones
(invalid bodies, parameters, missing token), sent to the in-process app (its real lifespan, the
main stack behind it) with a throwaway user's token. Half the by-id cases are pointed at a real
document and workspace of that user, so the success paths are fuzzed too, not only 404s.

The fuzzing runs once per module; each test then judges one property of what it saw. The
defects it found (undocumented error statuses, an unwrapped 400) were fixed in api/.
"""

import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis.errors
import psycopg
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi import checks as openapi_checks

from api.main import create_app
from local_stack.stack import LocalStack, User
from tests.api.conftest import bearer, edge_settings
from tests.hostile.support import record
from tests.support import make_user

EXAMPLES = int(os.environ.get("HOSTILE_FUZZ_EXAMPLES", "50"))
BODY_CHECKS: list[CheckFunction] = [
    openapi_checks.response_schema_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
]
STATUS_CHECKS: list[CheckFunction] = [openapi_checks.status_code_conformance]


@dataclass
class Findings:
    examples: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    # check name -> (operation, status) -> one example, as "request -> response"
    failures: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def fail(self, check: str, where: str, example: str) -> None:
        self.failures.setdefault(check, {}).setdefault(where, example)

    def summary(self) -> dict[str, Any]:
        return {
            "operations": len(self.examples),
            "examples": sum(self.examples.values()),
            "examples_by_operation": dict(sorted(self.examples.items())),
            "server_errors_5xx": len(self.server_errors),
            "statuses": dict(sorted(self.statuses.items())),
            "failures_by_check": {
                check: dict(sorted(cases.items())) for check, cases in sorted(self.failures.items())
            },
            "unsatisfiable": self.skipped,
        }


def _envelope_problem(status: int, body: bytes) -> str | None:
    """The README's promise for every error: JSON {"error": {"code", "message", "request_id"}}."""
    if status < 400:
        return None
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{status} without the error envelope: {body[:200]!r}"
    if not all(isinstance(error.get(k), str) for k in ("code", "message", "request_id")):
        return f"{status} with an incomplete error envelope: {body[:200]!r}"
    return None


@dataclass
class Fixtures:
    """A real document and workspace of the fuzzing user, so by-id operations reach their
    200s."""

    stack: LocalStack
    edge: TestClient
    user: User
    token: str
    workspace: str

    def document(self) -> str:
        with psycopg.connect(self.stack.db_url, autocommit=True) as db:
            row = db.execute(
                "select id from public.documents where owner_id = %s order by created_at limit 1",
                (self.user.id,),
            ).fetchone()
        if row is not None:
            return str(row[0])
        made = self.edge.post(
            "/v1/documents",
            headers=bearer(self.token),
            json={"title": "fuzz target", "content": "A document for the fuzzer to change."},
        )
        assert made.status_code in (200, 201), made.text
        return str(made.json()["document_id"])


@pytest.fixture(scope="module")
def findings(stack: LocalStack, edge: TestClient) -> Iterator[Findings]:
    user = make_user(stack, "hostile-fuzz")
    token = stack.access_token(user)
    with psycopg.connect(stack.db_url, autocommit=True) as db:
        row = db.execute(
            "insert into public.workspaces (name, created_by) values ('fuzz space', %s) "
            "returning id",
            (user.id,),
        ).fetchone()
    assert row is not None
    real = Fixtures(stack, edge, user, token, str(row[0]))
    app = create_app(edge_settings(stack, log_level="CRITICAL"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = Findings()
    try:
        for result in schema.get_all_operations():
            if isinstance(result, Err):  # a part of the spec schemathesis cannot read
                raise result.err()
            operation = result.ok()
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(operation, mode, real, found)
        yield found
    finally:
        with psycopg.connect(stack.db_url, autocommit=True) as db:  # the ones it created too
            db.execute("delete from public.workspaces where created_by = %s", (user.id,))
        stack.delete_user(user)
        record("schemathesis", found.summary())


def _fuzz(operation: Any, mode: GenerationMode, real: Fixtures, found: Findings) -> None:
    label = str(operation.label)
    auth = bearer(real.token)

    @given(case=operation.as_strategy(generation_mode=mode), aim=st.booleans())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: Any, aim: bool) -> None:
        if aim and mode == GenerationMode.POSITIVE:
            if "document_id" in case.path_parameters:
                case.path_parameters["document_id"] = real.document()
            if "workspace_id" in case.path_parameters:
                case.path_parameters["workspace_id"] = real.workspace
            if "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = real.user.id
        response = case.call(headers=auth)
        found.examples[label] += 1
        found.statuses[f"{label} {response.status_code}"] += 1
        request = f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"[:400]
        example = f"{request} -> {response.status_code} {response.content[:300]!r}"
        if response.status_code >= 500:
            found.server_errors.append(example)
        for checks, name in ((BODY_CHECKS, "body"), (STATUS_CHECKS, "status_code_conformance")):
            try:
                case.validate_response(response, checks=checks, headers=auth)
            except (Failure, FailureGroup) as error:
                failures = error.exceptions if isinstance(error, FailureGroup) else (error,)
                for failure in failures:
                    check = name if name != "body" else type(failure).__name__
                    found.fail(check, f"{label} {response.status_code}", example)
        problem = _envelope_problem(response.status_code, response.content)
        if problem:
            found.fail(
                "error_envelope", f"{label} {response.status_code}", f"{request} -> {problem}"
            )

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # No invalid input exists for an operation without parameters (GET /health/live).
        found.skipped.append(f"{label} {mode.value}")


def test_fuzzing_finds_no_server_error(findings: Findings) -> None:
    assert findings.examples and min(findings.examples.values()) >= 1
    assert sum(findings.examples.values()) >= 7 * EXAMPLES
    assert not findings.server_errors, findings.server_errors[:5]


def test_answers_match_the_documented_bodies_types_and_headers(findings: Findings) -> None:
    body_failures = {
        check: cases
        for check, cases in findings.failures.items()
        if check not in ("status_code_conformance", "error_envelope")
    }
    assert not body_failures, json.dumps(body_failures, indent=1)[:3000]


def test_every_status_code_is_documented(findings: Findings) -> None:
    assert not findings.failures.get("status_code_conformance"), json.dumps(
        findings.failures.get("status_code_conformance"), indent=1
    )[:3000]


def test_every_error_uses_the_documented_envelope(findings: Findings) -> None:
    assert not findings.failures.get("error_envelope"), json.dumps(
        findings.failures.get("error_envelope"), indent=1
    )[:3000]
