"""``python -m bench.soak``: run the soak and print its figures; exit 1 if a check fails."""

from __future__ import annotations

import argparse
import random
import signal
import sys
from pathlib import Path

from bench.soak.faults import FAULT_KINDS
from bench.soak.postgres import PostgresError
from bench.soak.report import report
from bench.soak.run import Plan, run
from tests.support.activemq import BrokerError


def _faults(text: str) -> tuple[str, ...]:
    kinds = tuple(kind for kind in text.split(",") if kind)
    unknown = [kind for kind in kinds if kind not in FAULT_KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault {', '.join(unknown)} (choose from {','.join(FAULT_KINDS)})"
        )
    return kinds


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a fraction in [0, 1)")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def parse(argv: list[str] | None = None) -> Plan:
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description="simulated VMs publish signed results through a real ActiveMQ to two"
        " consumers writing to PostgreSQL, while the broker, a consumer and the database"
        " are killed and restarted and hostile messages are injected; then the store is"
        " compared with the publishers' record",
    )
    parser.add_argument("--minutes", type=_positive, default=3.0, help="publishing time (3)")
    parser.add_argument(
        "--boots-per-second", type=_positive, default=2.0, help="VM boots per second (2)"
    )
    parser.add_argument(
        "--hostile", type=_fraction, default=0.01, help="fraction of hostile messages (0.01)"
    )
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random)")
    parser.add_argument(
        "--faults",
        type=_faults,
        default=FAULT_KINDS,
        help="faults to inject, comma-separated (broker,consumer,database); '' for none",
    )
    parser.add_argument(
        "--faults-per-kind",
        type=int,
        default=None,
        help="faults of each kind (default: one per minute, at least one)",
    )
    parser.add_argument("--sites", type=int, default=3, help="sites (3), of 2 spaces each")
    parser.add_argument(
        "--keep", type=Path, default=None, help="work in this directory and keep it"
    )
    args = parser.parse_args(argv)
    if not 2 <= args.sites <= 26:
        parser.error("--sites must be 2 to 26 (a forger signs for another site)")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    per_kind = args.faults_per_kind
    if per_kind is None:
        per_kind = max(1, int(args.minutes))
    return Plan(
        minutes=args.minutes,
        boots_per_second=args.boots_per_second,
        hostile=args.hostile,
        seed=seed,
        faults=args.faults,
        faults_per_kind=per_kind,
        sites=args.sites,
        keep=args.keep,
    )


def _leave(signum: int, frame: object) -> None:
    # SIGTERM would end the process without unwinding: leave through the context managers,
    # which stop the broker, the consumers and the database server and remove their data
    raise SystemExit(f"soak: stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    plan = parse(argv)
    signal.signal(signal.SIGTERM, _leave)
    print(f"soak: seed {plan.seed}", flush=True)
    try:
        outcome = run(plan, say=lambda line: print(line, flush=True))
    except (BrokerError, PostgresError) as exc:  # a service that cannot start: nothing ran
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    print(report(outcome))
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
