"""A scratch database on the stack's Postgres for the large index experiments.

Loading 100k-1M rows and rebuilding HNSW indexes in the main database would slow every other user
of the stack and leave its index tuned for a benchmark. A separate database on the same server
gets the same platform objects and the same migrations (so the same table, triggers, RLS and
functions), and is dropped at the end, even after an error. Databases left by a run that was
killed are recognised by the pid in their name and dropped by the next run.
"""

import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from bench.env import StackEnv
from bench.vectors import copy_chunks
from local_stack import postgres, schema
from local_stack.processes import pid_alive

PREFIX = "kb_bench_"
INDEX = "document_chunks_embedding_hnsw_idx"
# Enough for a 1M-row HNSW graph to be built in memory; pgvector gets much slower once the graph
# outgrows maintenance_work_mem. Set for the building session only.
BUILD_MEMORY = "2GB"


def drop_orphans(admin: psycopg.Connection, progress: Callable[[str], None]) -> None:
    rows = admin.execute(
        "select datname from pg_database where datname like %s", (PREFIX + "%",)
    ).fetchall()
    for (name,) in rows:
        pid = name.removeprefix(PREFIX).split("_")[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            progress(f"dropping {name}, left by an earlier run that was killed")
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@contextmanager
def scratch_database(env: StackEnv, progress: Callable[[str], None]) -> Iterator[str]:
    """Create, lay the platform, migrate; yield its URL; drop it whatever happens."""
    name = f"{PREFIX}{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(env.db_url, autocommit=True) as admin:
        drop_orphans(admin, progress)
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        progress(f"scratch database {name}: platform objects and migrations")
        env.stack.lay_platform(database=name)
        url = postgres.url(env.stack.settings, env.stack.secrets, name)
        env.stack.supabase_cli("migration", "up", db_url=url)
        yield url
    finally:
        with psycopg.connect(env.db_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
        progress(f"scratch database {name} dropped")


KEPT_PREFIX = "kb_bench_kept_"


@contextmanager
def kept_database(
    env: StackEnv, label: str, progress: Callable[[str], None]
) -> Iterator[tuple[str, bool]]:
    """A named scratch database that outlives the run: (URL, whether it was just created).

    Loading a million rows and building their graphs takes most of an hour here; measuring a
    changed search function again should not. An existing one gets the migrations added since
    (`migration up` applies only those), so it runs the functions the repository has now.
    `dropdb` it (or `python -m bench --drop-kept`) when done: it holds gigabytes.
    """
    name = KEPT_PREFIX + label
    with psycopg.connect(env.db_url, autocommit=True) as admin:
        exists = admin.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
        if exists is None:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    url = postgres.url(env.stack.settings, env.stack.secrets, name)
    if exists is None:
        progress(f"kept database {name}: platform objects and migrations (kept after the run)")
        env.stack.lay_platform(database=name)
    else:
        progress(f"kept database {name}: reused, applying migrations added since")
        if schema.adopt_squashed_history(env.stack, url):
            progress(f"kept database {name}: history from before the baseline recorded as it")
    env.stack.supabase_cli("migration", "up", db_url=url)
    yield url, exists is None


def drop_kept(env: StackEnv, progress: Callable[[str], None]) -> None:
    with psycopg.connect(env.db_url, autocommit=True) as admin:
        rows = admin.execute(
            "select datname from pg_database where datname like %s", (KEPT_PREFIX + "%",)
        ).fetchall()
        for (name,) in rows:
            progress(f"dropping {name}")
            admin.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )


@dataclass(frozen=True)
class Owner:
    """A user of the scratch database holding `share` of the rows (None: whatever is left)."""

    label: str
    user_id: str
    share: float | None


def create_owners(db: psycopg.Connection, shares: Sequence[float]) -> list[Owner]:
    owners = []
    for share in (*shares, None):
        label = "rest" if share is None else f"{share:.0%}"
        row = db.execute(
            """insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at)
               values ('00000000-0000-0000-0000-000000000000', gen_random_uuid(),
                       'authenticated', 'authenticated', %s, now())
               returning id""",
            (f"owner-{label.rstrip('%')}-{uuid.uuid4().hex[:8]}@bench.local",),
        ).fetchone()
        assert row is not None
        owners.append(Owner(label, str(row[0]), share))
    return owners


def assign_rows(n: int, owners: Sequence[Owner], seed: int) -> np.ndarray:
    """Owner index of each row: exact shares, scattered at random over the table."""
    counts = [round(n * o.share) for o in owners if o.share is not None]
    counts.append(n - sum(counts))
    labels = np.repeat(np.arange(len(owners)), counts)
    assigned: np.ndarray = np.random.default_rng(seed).permutation(labels)
    return assigned


def load_rows(
    db: psycopg.Connection,
    owners: Sequence[Owner],
    contents: Sequence[str],
    vectors: np.ndarray,
    *,
    model: str,
    seed: int,
) -> np.ndarray:
    """Replace the table's contents: one document per owner, rows scattered among them, no
    HNSW index (built afterwards, timed). Returns each row's owner index."""
    db.execute("truncate public.documents cascade")
    drop_hnsw(db)
    register_model(db, model)
    documents = []
    for owner in owners:
        row = db.execute(
            """insert into public.documents (owner_id, title, content_hash, embedding_model)
               values (%s, %s, encode(sha256(%s::bytea), 'hex'), %s) returning id""",
            (owner.user_id, f"rows of {owner.label}", uuid.uuid4().bytes, model),
        ).fetchone()
        assert row is not None
        documents.append(str(row[0]))
    assigned = assign_rows(len(vectors), owners, seed)
    copy_chunks(db, documents, assigned, contents, vectors)
    db.execute("analyze public.document_chunks")
    return assigned


def register_model(db: psycopg.Connection, model: str) -> None:
    """Documents may only be of a registered model; registering here builds no graph (the
    sections build and time their own)."""
    db.execute(
        "insert into private.embedding_models (model) values (%s) on conflict do nothing", (model,)
    )


def drop_hnsw(db: psycopg.Connection) -> None:
    db.execute(sql.SQL("drop index if exists public.{}").format(sql.Identifier(INDEX)))


def build_hnsw(db: psycopg.Connection, m: int, ef_construction: int) -> tuple[float, int]:
    """(seconds, bytes) to build the search index with these parameters, as the migration does."""
    drop_hnsw(db)
    db.execute(sql.SQL("set maintenance_work_mem = {}").format(sql.Literal(BUILD_MEMORY)))
    started = time.perf_counter()
    db.execute(
        sql.SQL(
            "create index {} on public.document_chunks using hnsw "
            "(embedding extensions.vector_cosine_ops) with (m = {}, ef_construction = {})"
        ).format(sql.Identifier(INDEX), sql.Literal(m), sql.Literal(ef_construction))
    )
    seconds = time.perf_counter() - started
    db.execute("reset maintenance_work_mem")
    row = db.execute("select pg_relation_size(%s::regclass)", (f"public.{INDEX}",)).fetchone()
    assert row is not None
    return seconds, int(row[0])


def table_bytes(db: psycopg.Connection) -> int:
    row = db.execute("select pg_total_relation_size('public.document_chunks')").fetchone()
    assert row is not None
    return int(row[0])
