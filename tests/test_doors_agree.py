"""The three doors state the same defaults and bounds: the API's OpenAPI document, the MCP
server's tool input schemas and `kb`'s options are read as a client sees them, and each value is
compared with the others and with knowledge_core.limits (tests/database/test_bounds.py holds
those to the SQL). A door that drifts fails here, by name."""

import argparse
import asyncio
from typing import Any

import pytest

from api.cli import build_parser
from api.cli.client import Bounded
from api.main import create_app
from knowledge_core import limits
from knowledge_core.settings import Settings
from knowledge_mcp import create_server

Bounds = dict[str, Any]
KEYS = ("type", "minimum", "maximum", "minLength", "maxLength", "maxProperties", "enum", "default")


def _settings() -> Settings:
    """Defaults only: nothing here is started or called."""
    values: dict[str, Any] = {"supabase_url": "http://127.0.0.1:9", "supabase_anon_key": "x"}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def bounds(schema: dict[str, Any], spec: dict[str, Any] | None = None) -> Bounds:
    """What a JSON schema says a value may be: its type and limits, the default, a choice of
    values; an optional value (anyOf [X, null]) as X."""
    if "$ref" in schema and spec is not None:
        schema = _resolve(spec, schema["$ref"])
    default = schema.get("default")
    if "anyOf" in schema:
        kept = [s for s in schema["anyOf"] if s.get("type") != "null"]
        assert len(kept) == 1, schema
        schema = {**kept[0], "default": default}
    found = {key: schema[key] for key in KEYS if schema.get(key) is not None}
    if "const" in schema:  # one allowed value
        found["enum"] = [schema["const"]]
    return found


def _resolve(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(_settings()).openapi()


@pytest.fixture(scope="module")
def mcp_tools() -> dict[str, dict[str, Any]]:
    tools = asyncio.run(create_server(_settings()).list_tools())
    return {tool.name: tool.input_schema["properties"] for tool in tools}


def api_body(spec: dict[str, Any], path: str, method: str = "post") -> dict[str, Bounds]:
    content = spec["paths"][path][method]["requestBody"]["content"]
    schema = next(iter(content.values()))["schema"]
    schema = _resolve(spec, schema["$ref"]) if "$ref" in schema else schema
    return {name: bounds(prop, spec) for name, prop in schema["properties"].items()}


def api_query(spec: dict[str, Any], path: str, method: str = "get") -> dict[str, Bounds]:
    return {
        p["name"]: bounds({**p["schema"], "default": p["schema"].get("default")})
        for p in spec["paths"][path][method].get("parameters", [])
        if p["in"] == "query"
    }


def mcp(tools: dict[str, dict[str, Any]], tool: str) -> dict[str, Bounds]:
    return {name: bounds(prop) for name, prop in tools[tool].items()}


def cli(command: str, *path: str) -> dict[str, Bounds]:
    """A `kb` command's options, as bounds: a Bounded type's range, choices, the default."""
    parser = build_parser()
    for name in (command, *path):
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    found: dict[str, Bounds] = {}
    for action in parser._actions:
        described: Bounds = {}
        if isinstance(action.type, Bounded):
            described["minimum"], described["maximum"] = action.type.minimum, action.type.maximum
            described["type"] = "integer" if action.type.kind is int else "number"
        if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
            described["enum"] = list(action.choices)
        if action.default not in (None, False, argparse.SUPPRESS):
            described["default"] = action.default
        found[action.dest] = described
    return found


def same(**doors: Bounds) -> None:
    """Every door's bounds of one value are equal (the names in the message say who differs)."""
    (first, expected), *rest = doors.items()
    for door, seen in rest:
        assert seen == expected, f"{door} says {seen}, {first} says {expected}"


def test_search_agrees(openapi: dict[str, Any], mcp_tools: dict[str, Any]) -> None:
    api, tool, kb = (
        api_body(openapi, "/v1/search"),
        mcp(mcp_tools, "search_knowledge_base"),
        cli("search"),
    )
    k = {"type": "integer", "minimum": 1, "maximum": limits.MAX_K, "default": limits.DEFAULT_K}
    same(limits=k, api=api["k"], mcp=tool["limit"], kb=kb["k"])
    mode = {"type": "string", "enum": list(limits.SEARCH_MODES), "default": limits.DEFAULT_MODE}
    same(limits=mode, api=api["mode"], mcp=tool["mode"])
    same(limits={k: mode[k] for k in ("enum", "default")}, kb=kb["mode"])
    group = {"type": "string", "enum": list(limits.GROUPINGS), "default": limits.DEFAULT_GROUP_BY}
    same(limits=group, api=api["group_by"], mcp=tool["group_by"])
    same(limits={k: group[k] for k in ("enum", "default")}, kb=kb["group_by"])
    threshold = {"type": "number", "minimum": limits.MIN_THRESHOLD, "maximum": limits.MAX_THRESHOLD}
    same(limits=threshold, api=api["threshold"], mcp=tool["threshold"], kb=kb["threshold"])
    query = {"type": "string", "minLength": 1, "maxLength": limits.MAX_QUERY_CHARS}
    same(limits=query, api=api["query"], mcp=tool["query"])
    same(api=api["category"], mcp=tool["category"])
    same(
        api={"maxProperties": api["metadata"]["maxProperties"]},
        mcp={"maxProperties": tool["metadata"]["maxProperties"]},
        limits={"maxProperties": limits.MAX_METADATA_KEYS},
    )


def test_adding_a_document_agrees(openapi: dict[str, Any], mcp_tools: dict[str, Any]) -> None:
    api, tool = api_body(openapi, "/v1/documents"), mcp(mcp_tools, "add_document")
    expected = {
        "title": {"type": "string", "minLength": 1, "maxLength": limits.MAX_TITLE_CHARS},
        "content": {"type": "string", "minLength": 1, "maxLength": limits.MAX_DOCUMENT_CHARS},
        "source": {"type": "string", "maxLength": limits.MAX_SOURCE_CHARS},
        "category": {"type": "string", "minLength": 1, "maxLength": limits.MAX_CATEGORY_CHARS},
    }
    for name, wanted in expected.items():
        same(limits=wanted, api=api[name], mcp=tool[name])
    upload = api_body(openapi, "/v1/documents/upload")
    for name in ("title", "source", "category"):
        same(
            limits={k: v for k, v in expected[name].items() if k != "type"},
            upload={k: v for k, v in upload[name].items() if k in ("minLength", "maxLength")},
        )
    wait = {"type": "number", "minimum": 0, "maximum": limits.MAX_WAIT_SECONDS}
    same(limits=wait, api=api_query(openapi, "/v1/documents", "post")["wait"], mcp=tool["wait"])
    same(limits=wait, upload=api_query(openapi, "/v1/documents/upload", "post")["wait"])


def test_listing_agrees(openapi: dict[str, Any], mcp_tools: dict[str, Any]) -> None:
    api, tool, kb = (
        api_query(openapi, "/v1/documents"),
        mcp(mcp_tools, "list_documents"),
        cli("list"),
    )
    limit = {
        "type": "integer",
        "minimum": 1,
        "maximum": limits.MAX_PAGE_SIZE,
        "default": limits.DEFAULT_PAGE_SIZE,
    }
    same(limits=limit, api=api["limit"], mcp=tool["limit"], kb=kb["limit"])
    offset = {"type": "integer", "minimum": 0, "maximum": limits.MAX_OFFSET, "default": 0}
    same(limits=offset, api=api["offset"], mcp=tool["offset"])
    same(limits={k: v for k, v in offset.items() if k != "default"}, kb=kb["offset"])
    category = {"type": "string", "minLength": 1, "maxLength": limits.MAX_CATEGORY_CHARS}
    same(limits=category, api=api["category"], mcp=tool["category"])


def test_workspace_roles_agree(openapi: dict[str, Any]) -> None:
    roles = {"enum": list(limits.WORKSPACE_ROLES)}
    for kind, action in (("members", "role"), ("invitations", "invite")):
        api = api_body(openapi, f"/v1/workspaces/{{workspace_id}}/{kind}/{{user_id}}", "put")
        same(
            limits=roles,
            api={"enum": api["role"]["enum"]},
            kb={"enum": cli("workspaces", action)["role"]["enum"]},
        )
