"""supabase/schemas/ and supabase/migrations/ build the same database, and `kb-stack db diff`
writes the migration that keeps them so.

Each test builds scratch databases on the stack's Postgres (local_stack.schema), from this
repository's files or from a copy a test edits, and compares their catalogs (local_stack.catalog):
tables, columns, constraints, indexes, triggers, policies, functions with their bodies and
settings, privileges, comments.
"""

import shutil
from pathlib import Path

import pytest

from local_stack import schema
from local_stack.settings import REPO_ROOT
from local_stack.stack import LocalStack


def test_the_migrations_build_what_the_schemas_state(stack: LocalStack) -> None:
    drift = schema.drift(stack)
    kinds = {line.split(" ", 1)[0] for line in drift.migrations}
    assert {"relation", "column", "index", "policy", "function", "trigger"} <= kinds
    assert drift.difference == []


def _copy_of_supabase(stack: LocalStack, tmp_path: Path) -> LocalStack:
    """The stack, reading supabase/ from a copy the test may edit."""
    shutil.copytree(REPO_ROOT / "supabase", tmp_path / "supabase", ignore=_not_sql)
    settings = stack.settings.model_copy(update={"supabase_dir": tmp_path / "supabase"})
    return LocalStack(settings)


def _not_sql(folder: str, names: list[str]) -> set[str]:
    return {"functions", ".temp", ".branches"} & set(names)


def _edit(copy: LocalStack, file: str, old: str, new: str) -> None:
    path = copy.settings.supabase_dir / "schemas" / file
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not once in {file}"
    path.write_text(text.replace(old, new))


def test_a_schema_file_that_disagrees_with_the_migrations_is_reported(
    stack: LocalStack, tmp_path: Path
) -> None:
    copy = _copy_of_supabase(stack, tmp_path)
    # A viewer may add documents (a policy), and the wide walk looks less wide (a function body).
    _edit(
        copy,
        "30_documents.sql",
        "workspace_id is null\n      or workspace_id in (select private.caller_workspace_ids("
        "'{owner,editor}'))",
        "workspace_id is null\n      or workspace_id in (select private.caller_workspace_ids("
        "'{owner,editor,viewer}'))",
    )
    _edit(copy, "68_search_plan.sql", "then 100 else 200 end", "then 100 else 150 end")
    difference = schema.drift(copy).difference
    changed = {
        line[1:].split(":", 1)[0]
        for line in difference
        if line[:1] in "+-" and not line.startswith(("---", "+++"))
    }
    assert changed == {
        'policy public.documents "Users can add documents of their own or to workspaces they edit"',
        "function private.search_plan(text,uuid,text,boolean)",
    }


@pytest.mark.parametrize("name", ["Add-Column", "add column", ""])
def test_a_migration_name_is_checked_before_anything_is_built(stack: LocalStack, name: str) -> None:
    from local_stack.processes import StackError

    with pytest.raises(StackError, match="lowercase"):
        schema.write_migration(stack, name)


def test_diff_writes_the_migration_that_brings_the_migrations_to_the_schemas(
    stack: LocalStack, tmp_path: Path
) -> None:
    copy = _copy_of_supabase(stack, tmp_path)
    # What a real change touches: a new column at the end of a table with its grant and a
    # partial index, a policy, a function's body and `set` option, a function's grant.
    _edit(
        copy,
        "30_documents.sql",
        "  passages_total integer check (passages_total >= 0),\n",
        "  passages_total integer check (passages_total >= 0),\n"
        "  language text check (char_length(language) <= 20),\n",
    )
    _edit(
        copy,
        "30_documents.sql",
        "grant update (workspace_id, title, source, category, metadata, content_hash, content, "
        "sections)",
        "grant update (workspace_id, title, source, category, metadata, content_hash, content, "
        "sections,\n  language)",
    )
    (copy.settings.supabase_dir / "schemas" / "30_documents.sql").write_text(
        (copy.settings.supabase_dir / "schemas" / "30_documents.sql").read_text()
        + "\ncreate index documents_language_idx on public.documents (language)\n"
        "  where language is not null;\n"
    )
    _edit(
        copy,
        "40_document_chunks.sql",
        "workspace_id = any (array(select private.caller_workspace_ids('{owner,editor,viewer}')))",
        "workspace_id = any (array(select private.caller_workspace_ids('{owner,editor}')))",
    )
    _edit(copy, "68_search_plan.sql", "then 100 else 200 end", "then 100 else 150 end")
    _edit(
        copy,
        "68_search_plan.sql",
        "returns table (plan text, visible integer, ef_search integer, statement text)\n"
        "language plpgsql\nstable\n",
        "returns table (plan text, visible integer, ef_search integer, statement text)\n"
        "language plpgsql\nstable\nset work_mem = '8MB'\n",
    )
    _edit(
        copy,
        "95_request_checks.sql",
        "revoke execute on function private.refuse_read(text, text, integer) from public;\n",
        "revoke execute on function private.refuse_read(text, text, integer) from public;\n"
        "grant execute on function private.refuse_read(text, text, integer) to service_role;\n",
    )
    before = {p.name for p in schema.migration_files(copy)}

    written = schema.write_migration(copy, "documents_know_their_language")

    assert written.path is not None
    assert {p.name for p in schema.migration_files(copy)} - before == {written.path.name}
    assert written.path.name.endswith("_documents_know_their_language.sql")
    assert written.path.name > max(before)
    # Applied after the others, it leaves nothing between the two catalogs.
    assert written.unexpressed == [], "\n".join(written.unexpressed)
    assert schema.drift(copy).difference == []
    assert schema.write_migration(copy, "nothing_more").path is None
