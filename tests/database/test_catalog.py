"""What the catalog must say: RLS everywhere, pinned search paths, nothing extra for anon."""

import httpx
import psycopg
import pytest

from local_stack.stack import LocalStack

EXPOSED = ("public", "graphql_public")
OURS = ("public", "private")


def test_every_table_in_exposed_schemas_has_rls(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select n.nspname || '.' || c.relname, c.relrowsecurity
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           where c.relkind in ('r', 'p') and n.nspname = any(%s)""",
        (list(EXPOSED),),
    ).fetchall()
    assert rows, "the knowledge tables exist"
    assert [name for name, rls in rows if not rls] == []


def test_every_table_has_one_policy_per_operation(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select c.relname, p.polcmd, count(*), bool_and(p.polroles = array[
                  (select oid from pg_roles where rolname = 'authenticated')]::oid[])
           from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
           left join pg_policy p on p.polrelid = c.oid
           where c.relkind = 'r' and n.nspname = 'public'
           group by 1, 2 order by 1, 2"""
    ).fetchall()
    by_table: dict[str, dict[str, int]] = {}
    for table, command, count, only_authenticated in rows:
        by_table.setdefault(table, {})[command] = count
        assert only_authenticated, f"{table} {command}: policies are for `authenticated` only"
    # r=select a=insert w=update d=delete; '*' (ALL) would hide which verb a policy is for.
    assert by_table and all(
        commands == {"r": 1, "a": 1, "w": 1, "d": 1} for commands in by_table.values()
    ), by_table


def test_every_function_of_ours_pins_search_path(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select p.oid::regprocedure::text, p.proconfig
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = any(%s)
             and not exists (select 1 from pg_depend d
                             where d.objid = p.oid and d.deptype = 'e')""",
        (list(OURS),),
    ).fetchall()
    assert len(rows) >= 8
    unpinned = [
        name
        for name, config in rows
        if not any(c.startswith("search_path=") for c in (config or []))
    ]
    assert unpinned == []


def test_security_definer_functions_live_outside_exposed_schemas(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select n.nspname, p.proname from pg_proc p
           join pg_namespace n on n.oid = p.pronamespace
           where p.prosecdef and n.nspname = any(%s)""",
        (list(EXPOSED),),
    ).fetchall()
    assert rows == []


def test_nothing_of_ours_is_executable_by_anon_or_public(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select p.oid::regprocedure::text,
                  has_function_privilege('anon', p.oid, 'execute') as anon,
                  exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner)))
                          where grantee = 0 and privilege_type = 'EXECUTE') as public
           from pg_proc p join pg_namespace n on n.oid = p.pronamespace
           where n.nspname = any(%s)
             and not exists (select 1 from pg_depend d
                             where d.objid = p.oid and d.deptype = 'e')""",
        (list(OURS),),
    ).fetchall()
    assert rows
    callable_by_anon = {name for name, anon, public in rows if anon or public}
    # The one exception: PostgREST runs its pre-request hook as every request's role, anon too.
    # It lives in `private`, which PostgREST does not expose, so it is no endpoint.
    assert callable_by_anon == {"private.before_request()"}


def test_anon_has_no_privilege_on_knowledge_tables(db: psycopg.Connection) -> None:
    rows = db.execute(
        """select table_name, privilege_type from information_schema.role_table_grants
           where grantee = 'anon' and table_schema = 'public'"""
    ).fetchall()
    assert rows == []


def test_callable_functions_are_granted_to_authenticated(db: psycopg.Connection) -> None:
    for signature in ("public.match_documents", "public.hybrid_search"):
        row = db.execute(
            "select has_function_privilege('authenticated', p.oid, 'execute') "
            "from pg_proc p where p.oid = %s::regproc",
            (signature,),
        ).fetchone()
        assert row == (True,)


@pytest.mark.parametrize("helper", ["caller_workspace_ids", "token_allows", "touch_updated_at"])
def test_private_helpers_are_not_rpc_endpoints(stack: LocalStack, helper: str) -> None:
    response = httpx.post(
        f"{stack.settings.api_url}/rest/v1/rpc/{helper}",
        headers={
            "apikey": stack.service_role_key,
            "Authorization": f"Bearer {stack.service_role_key}",
        },
        json={},
    )
    assert response.status_code == 404
    assert response.json()["code"] == "PGRST202"
