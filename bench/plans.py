"""Which access path Postgres chose: an HNSW walk, a btree on owner_id, or a sequential scan.

A latency means little without it: on a small table, or for a very selective filter, the
planner may rightly skip the HNSW index, and the figure then describes something else. Plans of
statements inside match_documents are only visible through auto_explain (nested statements).
"""

from collections.abc import Callable

import psycopg

from bench.benchdb import INDEX


def access_path(plan: str) -> str:
    # The shared graph these sections build, or a model's own graph (document_chunks_hnsw_...).
    if INDEX in plan or "document_chunks_hnsw_" in plan:
        return "HNSW"
    if "owner_id_idx" in plan or "owner_model_idx" in plan or "workspace_model_idx" in plan:
        return "btree owner_id + sort"
    if "Seq Scan on document_chunks" in plan:
        return "seq scan + sort"
    return "other"


def explain(db: psycopg.Connection, statement: str, params: tuple[object, ...]) -> str:
    rows = db.execute("explain " + statement, params).fetchall()
    return access_path("\n".join(str(r[0]) for r in rows))


def auto_explained(db: psycopg.Connection, run: Callable[[], object]) -> list[str]:
    """Run `run` with auto_explain logging every (nested) plan as a notice; the plans, in order."""
    plans: list[str] = []

    def keep(notice: psycopg.errors.Diagnostic) -> None:
        plans.append(notice.message_primary or "")

    db.add_notice_handler(keep)
    try:
        # Preloaded on hosted and on the local stack, where `postgres` may not LOAD it itself.
        loaded = db.execute("select current_setting('auto_explain.log_level', true)").fetchone()
        if loaded is None or loaded[0] is None:
            db.execute("load 'auto_explain'")
        db.execute("set auto_explain.log_min_duration = 0")
        db.execute("set auto_explain.log_nested_statements = on")
        db.execute("set auto_explain.log_level = notice")
        db.execute("set client_min_messages = notice")
        run()
    finally:
        db.execute("set auto_explain.log_min_duration = -1")
        db.execute("reset client_min_messages")
        db.remove_notice_handler(keep)
    return plans


def nested_plans(db: psycopg.Connection, run: Callable[[], object]) -> str:
    """The access path of the (nested) plan that reads document_chunks for the search."""
    plans = auto_explained(db, run)
    searches = [p for p in plans if "document_chunks" in p and "Limit" in p]
    paths = [access_path(p) for p in searches]
    return next((p for p in paths if p != "other"), paths[0] if paths else "unknown")
