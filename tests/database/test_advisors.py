"""Supabase's own security and performance lints find nothing at WARN or above."""

import json

from local_stack.stack import LocalStack


def test_db_advisors_report_nothing_at_warn_or_above(stack: LocalStack) -> None:
    result = stack.database.supabase_cli(
        "db",
        "advisors",
        "--type",
        "all",
        "--level",
        "info",
        "--fail-on",
        "warn",
        "-o",
        "json",
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    serious = [
        f"{f['level']} {f['name']}: {f['detail']}"
        for f in findings
        if f["level"] in ("WARN", "ERROR")
    ]
    assert serious == []
    assert result.returncode == 0, result.stderr
