"""LangChain.js's SupabaseVectorStore (@langchain/community, unmodified) through Node.

The script (js/vector_store.mjs) adds, searches and deletes as the signed-in user; this test
checks what reached the tables, and that a read-only agent and a viewer are refused.
"""

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack
from tests.support import World, agent_token, world

SCRIPT = Path(__file__).with_name("js") / "vector_store.mjs"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (REPO_ROOT / "node_modules" / "@langchain" / "community").exists(),
    reason="needs Node and `npm install` (package.json's devDependencies)",
)


@pytest.fixture
def w(stack: LocalStack, db: psycopg.Connection) -> Iterator[World]:
    with world(stack, db) as made:
        yield made


def run_script(
    stack: LocalStack, token: str, mode: str, marker: str, target: str = ""
) -> dict[str, Any]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, str(SCRIPT)],
        env={
            **os.environ,
            "API_URL": stack.settings.api_url,
            "ANON_KEY": stack.anon_key,
            "USER_TOKEN": token,
            "MARKER": marker,
            "MODE": mode,
            "TARGET_ID": target,
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_add_documents_similarity_search_and_delete(
    stack: LocalStack, db: psycopg.Connection, w: World
) -> None:
    marker = uuid.uuid4().hex[:8]
    answer = run_script(stack, stack.access_token(w.owner), "write", marker)
    kept = next(i for i in answer["ids"] if i != answer["deleted"])
    rows = db.execute(
        "select d.id::text, d.owner_id::text, d.embedding_model, d.embedding_status, d.content, "
        "(select array_agg(c.embedding_model) from public.document_chunks c "
        " where c.document_id = d.id) "
        "from public.documents d where d.id = any(%s::uuid[])",
        (answer["ids"],),
    ).fetchall()
    assert rows == [
        (
            kept,
            w.owner.id,
            "langchain-js-hash-384",
            "ready",
            f"Swifts {marker} sleep while flying.",
            ["langchain-js-hash-384"],
        )
    ]


@pytest.mark.parametrize("actor", ["viewer", "read_only_agent"])
def test_who_may_not_write_is_refused(
    stack: LocalStack, db: psycopg.Connection, w: World, actor: str
) -> None:
    token = (
        agent_token(stack, w.owner, "read")
        if actor == "read_only_agent"
        else stack.access_token(w.viewer)
    )
    # The shared document, as LangChain's store knows it (a vector_store row; ids only).
    with db.transaction():
        db.execute("set local session_replication_role = replica")
        db.execute("insert into public.vector_store (id) values (%s)", (w.shared_doc,))
    before = db.execute(
        "select d.content_hash, d.updated_at, count(c.id) from public.documents d "
        "join public.document_chunks c on c.document_id = d.id where d.id = %s group by d.id",
        (w.shared_doc,),
    ).fetchone()
    answer = run_script(stack, token, "refused", uuid.uuid4().hex[:8], w.shared_doc)
    overwrite, delete = answer["refusals"]
    assert overwrite is not None and "row-level security" in overwrite
    # supabase-js answers a refused delete with an error object, which LangChain.js ignores: the
    # database's refusal is what matters, and the document must be untouched.
    assert (
        db.execute(
            "select d.content_hash, d.updated_at, count(c.id) from public.documents d "
            "join public.document_chunks c on c.document_id = d.id where d.id = %s group by d.id",
            (w.shared_doc,),
        ).fetchone()
        == before
    )
    assert delete is None or "42501" in delete or "not delete" in delete or "security" in delete
