"""The ``loop`` command line: offline evaluation and simulation, and the service.

``loop evaluate`` and ``loop simulate`` print one JSON object on stdout; logs
and progress go to stderr; a missing or malformed dataset exits non-zero with a
one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from loop.core.datasets import DatasetError, load_wrench
from loop.core.metrics import METRICS


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _emit(result: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))


def _load(args: argparse.Namespace) -> Any:
    ds = load_wrench(args.dataset_dir)
    if args.metric == "f1" and ds.n_classes != 2:
        raise ValueError(f"--metric f1 is the F1 of class 1, for two-class sets; {ds.name} has "
                         f"{ds.n_classes} classes: use --metric acc")
    return ds


def cmd_evaluate(args: argparse.Namespace) -> int:
    from loop.core.simulation import evaluate

    ds = _load(args)
    _emit(evaluate(ds, args.metric, random_state=args.seed), args.json)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from loop.core.simulation import simulate

    ds = _load(args)
    if args.suggest_rules and not args.quiet and ds.splits and all(
            sp.texts is None for sp in ds.splits.values()):
        _log(f"loop: {ds.name} has no texts, so no rules are suggested (--suggest-rules)")
    result = simulate(
        ds,
        budget=args.budget,
        batch_size=args.batch_size,
        seed=args.seed,
        metric=args.metric,
        strategy=args.strategy,
        log=None if args.quiet else _log,
        suggest_rules=args.suggest_rules,
    )
    _emit(result, args.json)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from loop.demo import run_demo

    return int(run_demo(args) or 0)


def _at_least(least: int) -> Any:
    """An argparse type: a whole number ``least`` or more."""
    def whole(text: str) -> int:
        n = int(text)
        if n < least:
            raise argparse.ArgumentTypeError(f"must be {least} or more, got {n}")
        return n
    return whole


METRIC_HELP = ("acc (the default): accuracy; f1: F1 of class 1 (two-class sets such as spam / "
               "not spam)")
JSON_HELP = "the JSON object on one line (default: indented)"
DATASET_HELP = ("a WRENCH-format directory: train.json, valid.json, test.json and label.json "
                "(or one all.json)")


def build_parser() -> argparse.ArgumentParser:
    from loop.core.sampling import STRATEGY_NAMES

    p = argparse.ArgumentParser(prog="loop", description=__doc__.splitlines()[0].replace("``", ""))
    sub = p.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("evaluate", help="score label models on a WRENCH-format dataset")
    ev.add_argument("dataset_dir", help=DATASET_HELP)
    ev.add_argument("--metric", choices=METRICS, default="acc", help=METRIC_HELP)
    ev.add_argument("--seed", type=int, default=0,
                    help="seed of the label model's random tie-breaks (default 0)")
    ev.add_argument("--json", action="store_true", help=JSON_HELP)
    ev.set_defaults(func=cmd_evaluate)

    sim = sub.add_parser("simulate", help="run the loop with a simulated expert")
    sim.add_argument("dataset_dir", help=DATASET_HELP + "; fitted on train, scored on test")
    sim.add_argument("--budget", type=_at_least(0), required=True,
                     help="answers the simulated expert gives (from the train split's gold)")
    sim.add_argument("--batch-size", type=_at_least(1), default=10,
                     help="answers between two refits (default 10)")
    sim.add_argument("--seed", type=int, default=0,
                     help="seed of the models and the sampler (default 0)")
    sim.add_argument("--metric", choices=METRICS, default="acc", help=METRIC_HELP)
    sim.add_argument("--strategy", default="loop", choices=STRATEGY_NAMES,
                     help="which items the expert is asked about (default: loop, ours)")
    sim.add_argument("--suggest-rules", type=_at_least(0), default=0, metavar="K",
                     help="after each batch, show K suggested rules to the simulated "
                          "expert, who accepts those with train-gold precision >= 0.8 "
                          "(default 0: none)")
    sim.add_argument("--json", action="store_true", help=JSON_HELP)
    sim.add_argument("--quiet", action="store_true", help="no progress on stderr")
    sim.set_defaults(func=cmd_simulate)

    demo = sub.add_parser("demo", help="run the whole service on the bundled YouTube dataset")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--workers", type=int, default=2)
    demo.add_argument("--data-dir", default="var/demo")
    demo.add_argument("--no-browser", action="store_true")
    demo.set_defaults(func=cmd_demo)

    try:
        from loop.service_cli import add_service_commands
    except ImportError:  # pragma: no cover - service not installed
        pass
    else:
        add_service_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DatasetError as exc:
        print(f"loop: error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"loop: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
