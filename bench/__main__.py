"""`python -m bench [--quick] [--million] [--only 1,3]`: run the benchmark suite.

Prints a table per section and a summary of the issue's targets, and writes bench/out/:
results.json (every figure, the machine, the versions) and one PNG per section.
"""

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.benchdb import drop_kept
from bench.config import FULL, QUICK
from bench.corpus import load_corpus
from bench.env import StackNotRunning, discover
from bench.machine import machine_info, one_line
from bench.plots import make_plots
from bench.report import Report
from bench.run import ALIASES, Runner, profile_dict
from bench.s10_scifact import drop_kept_collection
from bench.targets import evaluate, print_summary

BENCH_DIR = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes, one minute or two: checks that everything works",
    )
    parser.add_argument(
        "--million",
        action="store_true",
        help="also index 1M synthetic vectors (long; skipped by default)",
    )
    parser.add_argument(
        "--sweep-rows",
        type=int,
        default=None,
        help="rows of section 7's table (default: 200k, 1M with --million, 20k with --quick)",
    )
    parser.add_argument(
        "--one-storage",
        action="store_true",
        help="section 7: skip the graph in the other storage (vector; it builds as long)",
    )
    parser.add_argument(
        "--keep-sweep",
        action="store_true",
        help="section 7: keep its loaded database (GBs at 1M) and reuse it next time with the "
        "migrations added since; measuring a changed search function again then takes minutes",
    )
    parser.add_argument(
        "--keep-scifact",
        action="store_true",
        help="section 10: keep its SciFact collection (a user in the main database) and reuse it "
        "next time, so measuring a changed search takes minutes; drop it before `make test` (the "
        "model-migration test re-embeds every document)",
    )
    parser.add_argument(
        "--drop-kept",
        action="store_true",
        help="drop what --keep-sweep and --keep-scifact kept, and exit",
    )
    parser.add_argument(
        "--only",
        default="1,2,3,4,5,6,7,8,9,10",
        help="comma-separated sections to run, by number or name ('quality': 10); default: all",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=BENCH_DIR / "out",
        help="where results.json and the plots go (default bench/out)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sections = {
        ALIASES[s.strip()] if s.strip() in ALIASES else int(s)
        for s in args.only.split(",")
        if s.strip()
    }
    profile = QUICK if args.quick else FULL
    if args.million:
        profile = profile.with_million()
    if args.sweep_rows is not None:
        profile = replace(profile, sweep_rows=args.sweep_rows)
    if args.one_storage:
        profile = replace(profile, sweep_both_storages=False)
    if args.keep_sweep:
        profile = replace(profile, keep_sweep=True)
    if args.keep_scifact:
        profile = replace(profile, keep_scifact=True)
    report = Report(args.out)
    try:
        env = discover(need_api=bool(sections & {3, 9, 10}), log=report.progress)
    except StackNotRunning as error:
        print(f"bench: {error}", file=sys.stderr)
        return 2
    if args.drop_kept:
        drop_kept(env, report.progress)
        drop_kept_collection(env, report.progress)
        return 0
    started = time.time()
    info = machine_info(env.db_url, env.postgrest_url)
    report.data.update(
        {
            "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            "profile": profile_dict(profile),
            "sections_run": sorted(sections),
            "machine": info,
        }
    )
    report.say(f"benchmark ({profile.name}) on {one_line(info)}")
    report.say(
        "figures are comparable as ratios within this run; absolute times are this machine's"
    )
    report.progress("corpus: stdlib docstrings and comments")
    cache = BENCH_DIR / ".cache"
    runner = Runner(env, profile, sections, report, load_corpus(cache), cache)
    runner.run()
    outcomes = evaluate(report.data["sections"])
    print_summary(report, outcomes)
    report.data["targets"] = [o.as_dict() for o in outcomes]
    plots, plot_failures = make_plots(report.data["sections"], args.out)
    report.data["plots"] = [p.name for p in plots]
    report.data["failures"] = runner.failures + [f"plot {f}" for f in plot_failures]
    report.data["duration_s"] = time.time() - started
    report.write()
    report.say(
        f"\nwrote {report.json_path} and {len(plots)} plots to {args.out}/ "
        f"in {report.data['duration_s'] / 60:.1f} min"
    )
    for failure in report.data["failures"]:
        report.say(f"!! {failure}")
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main())
