"""The catalog of this project's schemas as normalised text, to compare two databases.

Two databases hold the same schema when these lines are equal: every table (persistence, row
level security, owner, privileges, comment), column (in order: type, nullability, default,
generated expression, identity, column privileges, comment), constraint, index, trigger, policy
(command, roles, expressions), function (its whole definition as Postgres prints it: arguments,
result, language, volatility, security definer, `set` options and body; owner, privileges,
comment), type, sequence, schema and default privilege in the schemas named. Objects that belong
to an extension are left out (the extension itself is listed with its schema); so are roles and
their settings, which belong to the cluster, not to a database.

Privileges are exploded into one `grantee: privilege, ...` list per object, the owner's implicit
ones included, so an ACL that is null (the default) and one that spells the default out read the
same.
"""

import difflib
from collections.abc import Sequence
from typing import LiteralString

import psycopg

SCHEMAS = ("public", "private")

# Each query returns (key, detail) rows; key sorts the objects, detail is one line of text.
# Multi-line details (function definitions) are split into one line per source line.
_QUERIES: dict[str, LiteralString] = {
    "schema": """
        select n.nspname,
               concat_ws(' ', 'owner=' || pg_get_userbyid(n.nspowner), 'acl=' || {acl},
                         'comment=' || quote_nullable(obj_description(n.oid, 'pg_namespace')))
        from pg_namespace n
        cross join lateral (select n.nspacl as acl, 'n'::"char" as kind, n.nspowner as owner) a
        where n.nspname = any (%(schemas)s)
    """,
    "extension": """
        select e.extname, 'schema=' || e.extnamespace::regnamespace::text
        from pg_extension e where e.extname <> 'plpgsql'
    """,
    "default privileges": """
        select concat_ws(' ', pg_get_userbyid(d.defaclrole),
                         coalesce(d.defaclnamespace::regnamespace::text, '(all schemas)'),
                         d.defaclobjtype::text),
               {acl}
        from pg_default_acl d
        cross join lateral (select d.defaclacl as acl, null::"char" as kind, null::oid as owner) a
    """,
    "type": """
        select t.oid::regtype::text,
               concat_ws(' ', 'owner=' || pg_get_userbyid(t.typowner),
                         'labels=' || (select string_agg(quote_literal(e.enumlabel), ','
                                                         order by e.enumsortorder)
                                       from pg_enum e where e.enumtypid = t.oid),
                         'comment=' || quote_nullable(obj_description(t.oid, 'pg_type')))
        from pg_type t
        where t.typnamespace::regnamespace::text = any (%(schemas)s) and t.typtype = 'e'
    """,
    "relation": """
        select c.oid::regclass::text,
               concat_ws(' ', 'kind=' || c.relkind::text, 'persistence=' || c.relpersistence::text,
                         'rls=' || c.relrowsecurity, 'force_rls=' || c.relforcerowsecurity,
                         'owner=' || pg_get_userbyid(c.relowner),
                         'options=' || array_to_string(c.reloptions, ','),
                         'acl=' || {acl},
                         'comment=' || quote_nullable(obj_description(c.oid, 'pg_class')))
        from pg_class c
        cross join lateral (select c.relacl as acl,
                                   case c.relkind when 'S' then 's' else 'r' end::"char" as kind,
                                   c.relowner as owner) a
        where c.relnamespace::regnamespace::text = any (%(schemas)s)
          and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
    """,
    "column": """
        select c.oid::regclass::text || ' #'
                 || lpad(row_number() over (partition by c.oid order by t.attnum)::text, 3, '0'),
               concat_ws(' ', t.attname, format_type(t.atttypid, t.atttypmod),
                         case when t.attnotnull then 'not null' end,
                         case t.attgenerated when 's' then 'generated as '
                           else 'default ' end || pg_get_expr(d.adbin, d.adrelid),
                         case t.attidentity when 'a' then 'identity always'
                           when 'd' then 'identity by default' end,
                         'collation=' || nullif(t.attcollation, 0)::regcollation::text,
                         'acl=' || {acl},
                         'comment=' || quote_nullable(col_description(c.oid, t.attnum)))
        from pg_class c
        join pg_attribute t on t.attrelid = c.oid and t.attnum > 0 and not t.attisdropped
        left join pg_attrdef d on d.adrelid = c.oid and d.adnum = t.attnum
        cross join lateral (select t.attacl as acl, null::"char" as kind, null::oid as owner) a
        where c.relnamespace::regnamespace::text = any (%(schemas)s)
          and c.relkind in ('r', 'p', 'v', 'm', 'f')
    """,
    "constraint": """
        select k.conrelid::regclass::text || ' ' || k.conname, pg_get_constraintdef(k.oid)
        from pg_constraint k
        where k.connamespace::regnamespace::text = any (%(schemas)s) and k.conrelid <> 0
    """,
    "index": """
        select i.indexrelid::regclass::text,
               pg_get_indexdef(i.indexrelid)
                 || coalesce(' comment=' || quote_nullable(obj_description(i.indexrelid,
                                                                           'pg_class')), '')
        from pg_index i join pg_class c on c.oid = i.indrelid
        where c.relnamespace::regnamespace::text = any (%(schemas)s)
    """,
    "trigger": """
        select g.tgrelid::regclass::text || ' ' || g.tgname,
               pg_get_triggerdef(g.oid) || case g.tgenabled when 'O' then ''
                                             else ' enabled=' || g.tgenabled::text end
        from pg_trigger g join pg_class c on c.oid = g.tgrelid
        where c.relnamespace::regnamespace::text = any (%(schemas)s) and not g.tgisinternal
    """,
    "policy": """
        select p.polrelid::regclass::text || ' ' || quote_ident(p.polname),
               concat_ws(' ', 'for=' || p.polcmd::text,
                         case when p.polpermissive then 'permissive' else 'restrictive' end,
                         'to=' || (select string_agg(case r when 0 then 'public'
                                                       else r::regrole::text end, ','
                                                     order by 1)
                                   from unnest(p.polroles) r),
                         'using=' || pg_get_expr(p.polqual, p.polrelid),
                         'with_check=' || pg_get_expr(p.polwithcheck, p.polrelid))
        from pg_policy p join pg_class c on c.oid = p.polrelid
        where c.relnamespace::regnamespace::text = any (%(schemas)s)
    """,
    "function": """
        select p.oid::regprocedure::text,
               concat_ws(E'\\n',
                         'owner=' || pg_get_userbyid(p.proowner),
                         'acl=' || {acl},
                         'comment=' || quote_nullable(obj_description(p.oid, 'pg_proc')),
                         pg_get_functiondef(p.oid))
        from pg_proc p
        cross join lateral (select p.proacl as acl, 'f'::"char" as kind, p.proowner as owner) a
        where p.pronamespace::regnamespace::text = any (%(schemas)s)
          and p.prokind in ('f', 'p', 'w')
          and not exists (select 1 from pg_depend e
                          where e.classid = 'pg_proc'::regclass and e.objid = p.oid
                            and e.deptype = 'e')
    """,
}

# Privileges of an object whose ACL, kind and owner the lateral subquery `a` names: the default
# ACL spelled out when the column is null, one `grantee: privileges` entry per grantee.
_ACL = """(
    select string_agg(g.who || ': ' || g.privileges, '; ' order by g.who)
    from (
        select case x.grantee when 0 then 'public' else x.grantee::regrole::text end as who,
               string_agg(x.privilege_type || case when x.is_grantable then '*' else '' end,
                          ',' order by x.privilege_type) as privileges
        from aclexplode(coalesce(a.acl, case when a.kind is not null
                                             then acldefault(a.kind, a.owner) end)) x
        group by 1
    ) g
)"""


def describe(conn: psycopg.Connection, schemas: Sequence[str] = SCHEMAS) -> list[str]:
    """Every object of `schemas` as lines of text, sorted by kind and name."""
    lines: list[str] = []
    # Names print schema-qualified whatever the connection's search_path was.
    conn.execute("set search_path = ''")
    for kind, query in _QUERIES.items():
        rows = conn.execute(query.replace("{acl}", _ACL), {"schemas": list(schemas)}).fetchall()
        for key, detail in sorted(rows, key=lambda row: str(row[0])):
            head = f"{kind} {key}"
            for line in str(detail or "").splitlines() or [""]:
                lines.append(f"{head}: {line.rstrip()}")
    return lines


def describe_url(url: str, schemas: Sequence[str] = SCHEMAS) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return describe(conn, schemas)


def difference(expected: list[str], actual: list[str], labels: tuple[str, str]) -> list[str]:
    """The lines only one side has, as a unified diff (empty when the catalogs agree)."""
    return list(difflib.unified_diff(expected, actual, *labels, n=0, lineterm=""))
