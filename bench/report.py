"""Plain-text tables on stdout, and one JSON of every figure in bench/out/.

Tables are printed as each section finishes, so a long run shows progress and a failure late in
the run does not lose what was measured before it; the JSON is rewritten after every section for
the same reason.
"""

import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.stats import Spread

Cell = str | int | float | None


def fmt(value: Cell, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.2g}"
        return f"{value:,.{digits}f}"
    return value


def fmt_spread(value: Spread, digits: int = 2) -> str:
    """`median [min-max]`, or just the median when there was one repeat."""
    if len(value.values) <= 1 or math.isnan(value.median):
        return fmt(value.median, digits)
    return f"{fmt(value.median, digits)} [{fmt(value.low, digits)}-{fmt(value.high, digits)}]"


@dataclass
class Table:
    title: str
    columns: Sequence[str]
    rows: list[Sequence[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        self.rows.append(cells)

    def render(self) -> str:
        cells = [[fmt(c) for c in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in cells:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(items: Sequence[str]) -> str:
            return "  ".join(
                item.ljust(widths[i]) if i == 0 else item.rjust(widths[i])
                for i, item in enumerate(items)
            ).rstrip()

        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        out = [f"\n== {self.title}", line(self.columns), rule]
        out += [line(row) for row in cells]
        out += [f"  * {note}" for note in self.notes]
        return "\n".join(out)


class Report:
    """Collects figures per section, prints tables, writes bench/out/results.json."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {"sections": {}}
        self.tables: list[Table] = []

    @property
    def json_path(self) -> Path:
        return self.out_dir / "results.json"

    def say(self, message: str) -> None:
        print(message, flush=True)

    def progress(self, message: str) -> None:
        print(f"  .. {message}", file=sys.stderr, flush=True)

    def table(self, table: Table) -> None:
        self.tables.append(table)
        print(table.render(), flush=True)

    def section(self, key: str, figures: dict[str, Any]) -> None:
        self.data["sections"][key] = figures
        self.write()

    def write(self) -> None:
        text = json.dumps(clean(self.data), indent=2, allow_nan=False)
        self.json_path.write_text(text + "\n")


def clean(value: object) -> Any:
    """JSON-ready: NaN and infinity become null (JSON has neither), summaries become dicts."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    as_dict = getattr(value, "as_dict", None)
    if callable(as_dict):
        return clean(as_dict())
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return clean(item())
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
