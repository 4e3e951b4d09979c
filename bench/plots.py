"""PNG plots of each section, from the same figures the tables print (bench/out/*.png).

matplotlib runs headless (Agg). A plot that cannot be drawn (its section was skipped or failed)
is left out; plotting never fails a run.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.config import CONCURRENCY

Figure = Any


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def recall_latency(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("1_index")
    if not data:
        return None
    fig, axes = plt.subplots(1, len(data), figsize=(5 * len(data), 4), squeeze=False)
    for ax, (name, result) in zip(axes[0], data.items(), strict=True):
        for build in result["builds"]:
            efs = sorted(build["sweep"])
            xs = [build["sweep"][ef]["latency"].p50.median for ef in efs]
            ys = [build["sweep"][ef]["recall"] for ef in efs]
            label = f"m={build['m']}, efc={build['ef_construction']}"
            ax.plot(xs, ys, marker="o", label=label + (" (shipped)" if build["shipped"] else ""))
            for x, y, ef in zip(xs, ys, efs, strict=True):
                ax.annotate(str(ef), (x, y), fontsize=7, textcoords="offset points", xytext=(3, -8))
        ax.axhline(0.95, color="grey", linestyle=":", linewidth=1)
        ax.set_title(f"{name} ({result['kind']})")
        ax.set_xlabel("p50 latency, ms")
        ax.set_ylabel("recall@10")
        ax.legend(fontsize=7)
    fig.suptitle("HNSW recall vs latency over hnsw.ef_search (labels)")
    return _save(fig, out / "1_recall_vs_latency.png")


def hnsw_build(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("1_index")
    if not data:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    labels, seconds, sizes = [], [], []
    for name, result in data.items():
        for b in result["builds"]:
            labels.append(f"{name}\n{b['m']}/{b['ef_construction']}")
            seconds.append(b["build_seconds"])
            sizes.append(b["index_bytes"] / 2**20)
    left.bar(labels, seconds)
    left.set_ylabel("build time, s")
    right.bar(labels, sizes, color="tab:orange")
    right.set_ylabel("index size, MiB")
    for ax in (left, right):
        ax.tick_params(axis="x", labelsize=6, rotation=90)
    fig.suptitle("HNSW build per (m / ef_construction)")
    return _save(fig, out / "1_hnsw_build.png")


def filtered(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("2_filtered")
    if not data:
        return None
    fig, axes = plt.subplots(2, len(data), figsize=(5 * len(data), 7), squeeze=False)
    keys = ("walk_off", "walk_relaxed", "match_user")
    for col, (name, result) in enumerate(data.items()):
        owners = list(result["owners"])
        width = 0.8 / len(keys)
        for i, key in enumerate(keys):
            xs = [j + i * width for j in range(len(owners))]
            variants = [result["owners"][o]["variants"][key] for o in owners]
            label = variants[0]["label"]
            axes[0][col].bar(xs, [v["recall"] for v in variants], width, label=label)
            axes[1][col].bar(xs, [v["mean_rows"] for v in variants], width, label=label)
        for row, ylabel in ((0, "recall@10"), (1, "rows returned (mean of 10)")):
            ax = axes[row][col]
            ax.set_xticks([j + width for j in range(len(owners))], [f"owns {o}" for o in owners])
            ax.set_ylabel(ylabel)
            ax.set_title(f"{name} ({result['kind']})")
        axes[0][col].legend(fontsize=6)
    fig.suptitle("RLS-restricted search: iterative scans off vs relaxed_order")
    return _save(fig, out / "2_filtered_search.png")


def edge(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("3_edge")
    if not data:
        return None
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for entry in data["paths"].values():
        levels = [c for c in CONCURRENCY if c in entry["levels"]]
        label = f"{entry['label']} [{entry['client']}]"
        left.plot(
            levels,
            [entry["levels"][c]["latency"].p50.median for c in levels],
            marker="o",
            label=label,
        )
        right.plot(
            levels,
            [entry["levels"][c]["latency"].rate.median for c in levels],
            marker="o",
            label=label,
        )
    left.set_ylabel("p50 latency, ms (log)")
    left.set_yscale("log")
    right.set_ylabel("requests/s")
    for ax in (left, right):
        ax.set_xscale("log", base=2)
        ax.set_xticks(list(CONCURRENCY), [str(c) for c in CONCURRENCY])
        ax.set_xlabel("concurrency")
    left.legend(fontsize=6)
    fig.suptitle("The edge's overhead: one search by each path")
    return _save(fig, out / "3_edge_overhead.png")


def ingest(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("4_ingest")
    if not data or "batches" not in data:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    batches = sorted(data["batches"])
    for key, label in (
        ("embedder_chunks_per_s", "embedder alone"),
        ("in_process_chunks_per_s", "CallerKnowledge.add_document"),
        ("api_chunks_per_s", "API POST /v1/documents"),
    ):
        ax.plot(batches, [data["batches"][b][key].median for b in batches], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xticks(batches, [str(b) for b in batches])
    ax.set_xlabel("EMBEDDING_BATCH_SIZE")
    ax.set_ylabel("chunks/s")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=7)
    ax.set_title("Ingest throughput")
    return _save(fig, out / "4_ingest.png")


def footprint(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("5_footprint")
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    phases = (
        ("idle", "median_mb", "idle"),
        ("list_load", "peak_mb", "GET load peak"),
        ("search_load", "peak_mb", "search load peak"),
    )
    names = list(data)
    width = 0.8 / len(phases)
    for i, (phase, figure, label) in enumerate(phases):
        xs = [j + i * width for j in range(len(names))]
        ax.bar(xs, [data[n].get(phase, {}).get(figure, 0) for n in names], width, label=label)
    ax.axhline(150, color="grey", linestyle=":", linewidth=1)
    ax.set_xticks(
        [j + width for j in range(len(names))], [f"EMBEDDING_PROVIDER={n}" for n in names]
    )
    ax.set_ylabel("RSS, MB")
    ax.legend(fontsize=7)
    ax.set_title("API resident memory")
    return _save(fig, out / "5_footprint.png")


def quality(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("6_quality")
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    metrics = ("hit_at_1", "hit_at_10", "mrr_at_10")
    modes = list(data["modes"])
    width = 0.8 / len(modes)
    for i, mode in enumerate(modes):
        xs = [j + i * width for j in range(len(metrics))]
        ax.bar(xs, [data["modes"][mode][m] for m in metrics], width, label=mode)
    ax.set_xticks([j + width / 2 for j in range(len(metrics))], ["hit@1", "hit@10", "MRR@10"])
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title(f"Known-item retrieval, {data['queries']} queries")
    return _save(fig, out / "6_retrieval_quality.png")


def tenants(sections: dict[str, Any], out: Path) -> Path | None:
    data = sections.get("7_tenants")
    if not data:
        return None
    # The final state: after the scope graphs, when the run built them.
    key = "callers_scoped" if data.get("callers_scoped") else "callers"
    callers = list(data[key])
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.4
    for i, mode in enumerate(("semantic", "hybrid")):
        xs = [j + i * width for j in range(len(callers))]
        figures = [data[key][c][mode] for c in callers]
        axes[0].bar(xs, [f["p95_ms"] for f in figures], width, label=f"{mode} p95")
        axes[0].scatter(xs, [f["p50_ms"] for f in figures], color="black", s=10, zorder=3)
        axes[1].bar(xs, [f["recall"] for f in figures], width, label=mode)
        for x, f in zip(xs, figures, strict=True):
            axes[0].annotate(
                "walk" if "walk" in f["plan"] else "exact",
                (x, f["p95_ms"]),
                ha="center",
                va="bottom",
                fontsize=6,
                rotation=90,
            )
    labels = [f"{c.replace(' (', chr(10) + '(')}\n{data[key][c]['rows']:,} rows" for c in callers]
    for ax in axes:
        ax.set_xticks([j + width / 2 for j in range(len(callers))], labels, fontsize=6)
        ax.legend(fontsize=7)
    axes[0].axhline(15, color="tab:blue", linestyle=":", linewidth=1)
    axes[0].axhline(30, color="tab:orange", linestyle=":", linewidth=1)
    axes[0].set_yscale("log")
    axes[0].set_ylabel("ms, log scale (bars p95, dots p50; dotted: targets 15 / 30)")
    axes[1].axhline(0.95, color="grey", linestyle=":", linewidth=1)
    axes[1].set_ylim(0, 1.05)
    axes[1].set_ylabel("recall@10 vs exact scan of the caller's rows")
    fig.suptitle(f"Tenant sweep, {data['rows']:,} rows, as each caller (plan: match_documents')")
    return _save(fig, out / "7_tenant_sweep.png")


PLOTS: tuple[Callable[[dict[str, Any], Path], Path | None], ...] = (
    recall_latency,
    hnsw_build,
    filtered,
    edge,
    ingest,
    footprint,
    quality,
    tenants,
)


def make_plots(sections: dict[str, Any], out: Path) -> tuple[list[Path], list[str]]:
    made, failed = [], []
    for plot in PLOTS:
        try:
            path = plot(sections, out)
        except Exception as error:  # a plot is a view of figures already saved: never fatal
            failed.append(f"{plot.__name__}: {type(error).__name__}: {error}")
            plt.close("all")
            continue
        if path is not None:
            made.append(path)
    return made, failed
