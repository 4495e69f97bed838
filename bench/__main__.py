"""``python -m bench``: Depot against direct S3 on a stack of its own; writes bench/results.md.

Options: ``--quick`` (small sizes, one round: a smoke test of the harness),
``--only upload,small,...`` (a subset), ``--no-write`` (print only)."""

import argparse
import signal
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import direct, download, index_scale, listing, models, parsing, report, small, tus, upload
from bench.measure import MIB, Outcome
from bench.stack import GIB, running_stack

HERE = Path(__file__).parent
SCENARIOS = ["upload", "small", "download", "listing", "models", "parsing", "tus", "direct", "index"]
SHOWN_SETTINGS = ["workers", "worker_max_jobs", "part_size", "part_concurrency", "max_upload_size",
                  "model_cache_bytes", "log_level", "log_json", "debug"]


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through running_stack, which stops every server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, one round (never writes results.md)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds per measurement")
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a DEPOT_* setting for the API processes, e.g. --set workers=2")
    parser.add_argument("--index-sizes", default="1000,100000",
                        help="scenario index: file counts whose Redis memory and list/stats p95 are measured")
    parser.add_argument("--reindex-size", type=int, default=100_000,
                        help="scenario index: manifests `depot reindex` reads back (0: skip)")
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    signal.signal(signal.SIGTERM, _terminate)
    rounds = 1 if args.quick else args.rounds
    started, load_start = datetime.now(UTC), report.load_average()
    outcomes: list[Outcome] = []
    failed = False
    with running_stack(keep=args.keep) as stack:
        for item in args.set:
            name, _, value = item.partition("=")
            stack.env[f"DEPOT_{name.upper()}"] = value
        stack.start_api()
        plan = {
            "upload": lambda out: (
                upload.run(stack, [(64 * MIB, 1)] if args.quick else
                           [(GIB, rounds + 2), (256 * MIB, rounds), (2 * GIB, rounds)], out,
                           control_size=64 * MIB if args.quick else GIB),
                upload.run_fields_after(stack, 64 * MIB if args.quick else 256 * MIB, out),
            ),
            "small": lambda out: small.run(stack, 200 if args.quick else 2000, 32, rounds, out),
            "download": lambda out: download.run(stack, 64 * MIB if args.quick else GIB, rounds + 2, out),
            "listing": lambda out: listing.run(stack, (100, 1000) if args.quick else (1000, 100_000),
                                               30 if args.quick else 200, out),
            "models": lambda out: models.run(stack, 16 * MIB if args.quick else 500 * MIB, 8, rounds, out),
            "parsing": lambda out: parsing.run(stack, 64 * MIB if args.quick else GIB, out),
            "index": lambda out: index_scale.run(
                stack, [100, 1000] if args.quick else [int(n) for n in args.index_sizes.split(",")],
                1000 if args.quick else args.reindex_size, 30 if args.quick else 200, out),
            "tus": lambda out: tus.run(stack, 64 * MIB if args.quick else GIB, rounds, out),
            "direct": lambda out: direct.run(stack, 64 * MIB if args.quick else GIB, rounds + 2, out),
        }
        for name in chosen:
            out = Outcome(name)
            print(f"\n== {name}", flush=True)
            start = time.perf_counter()
            try:
                plan[name](out)
            except Exception as exc:  # noqa: BLE001 - report it, go on with the next scenario
                failed = True
                traceback.print_exc()
                out.add("scenario failed", f"{type(exc).__name__}: {str(exc)[:200]}", "", False)
            out.seconds = time.perf_counter() - start
            outcomes.append(out)
        effective = stack.settings()
        settings = {f"DEPOT_{name.upper()}": getattr(effective, name) for name in SHOWN_SETTINGS}
    if not (args.no_write or args.quick):
        changes = (HERE / "changes.md").read_text() if (HERE / "changes.md").exists() else ""
        report.write(HERE / "results.md", outcomes, report.machine(), settings, started,
                     (load_start, report.load_average()), changes)
        print(f"\nwrote {HERE / 'results.md'}")
    print(f"done in {(datetime.now(UTC) - started).total_seconds() / 60:.1f} min")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
