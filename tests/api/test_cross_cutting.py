"""Request ids, metrics, docs switched off in production, CORS from settings, readiness."""

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from local_stack.stack import LocalStack
from tests.api.conftest import edge_settings


def test_request_id_is_echoed_or_made(api: TestClient) -> None:
    mine = api.get("/health/live", headers={"X-Request-Id": "trace-123"})
    assert mine.headers["X-Request-Id"] == "trace-123"
    made = api.get("/health/live", headers={"X-Request-Id": "bad id with spaces"})
    assert made.headers["X-Request-Id"] != "bad id with spaces"
    assert len(made.headers["X-Request-Id"]) == 32


def test_metrics_count_requests_by_route(api: TestClient) -> None:
    api.get("/v1/documents")  # 401, still counted
    body = api.get("/metrics").text
    assert 'kb_http_requests_total{method="GET",route="/v1/documents",status="401"}' in body
    assert "kb_http_request_duration_seconds_bucket" in body


def test_health(api: TestClient) -> None:
    assert api.get("/health/live").json() == {"status": "ok"}
    assert api.get("/health/ready").json() == {"status": "ok"}


def test_openapi_docs_with_examples_in_development(api: TestClient) -> None:
    assert api.get("/docs").status_code == 200
    spec = api.get("/openapi.json").json()
    schema = spec["components"]["schemas"]["NewDocument"]
    assert schema["properties"]["title"]["examples"] == ["Onboarding guide"]
    assert "/v1/search" in spec["paths"]


def test_production_hides_docs_and_demands_https(stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="https"):
        edge_settings(stack, environment="production")
    settings = edge_settings(
        stack, environment="production", supabase_url="https://project.example.com"
    )
    app = create_app(settings)
    with TestClient(app) as production:
        assert production.get("/docs").status_code == 404
        assert production.get("/openapi.json").status_code == 404


def test_cors_allows_only_configured_origins(stack: LocalStack) -> None:
    app = create_app(edge_settings(stack, cors_origins=["https://app.example.com"]))
    with TestClient(app) as client:
        allowed = client.options(
            "/v1/search",
            headers={"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = client.options(
            "/v1/search",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in refused.headers


def test_settings_fail_fast_with_the_variable_named(stack: LocalStack) -> None:
    with pytest.raises(ValueError, match="CHUNK_OVERLAP"):
        edge_settings(stack, chunk_size=200, chunk_overlap=300)
    with pytest.raises(ValueError, match="OPENAI_API_KEY"):
        edge_settings(stack, embedding_provider="openai")
