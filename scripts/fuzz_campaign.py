"""A long fuzz campaign over the kernel commands, outside CI.

Runs the property of ``tests/test_fuzz_cli.py`` (exit 0/1/2, an ``error:`` line when not 0,
no traceback, nothing left behind, outputs of the documented size) with random seeds, round
after round, until the time budget is spent; every distinct failure is shrunk by Hypothesis,
printed, and the campaign goes on. Usage::

    .venv/bin/python scripts/fuzz_campaign.py --minutes 10 [--examples-per-round 500]
                                             [--no-shrink]

Exit status 0 when nothing was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import traceback
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import test_fuzz_cli as fuzz  # noqa: E402  (the tests folder is not a package)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--examples-per-round", type=int, default=500)
    parser.add_argument("--no-shrink", action="store_true",
                        help="report failing examples as generated (faster campaigns)")
    args = parser.parse_args()

    exit_codes: collections.Counter[int] = collections.Counter()
    invoke = CliRunner.invoke

    def counting_invoke(self, *a, **kw):
        result = invoke(self, *a, **kw)
        exit_codes[result.exit_code] += 1
        return result

    CliRunner.invoke = counting_invoke  # type: ignore[method-assign]
    findings: dict[str, str] = {}
    deadline = time.monotonic() + 60 * args.minutes
    rounds = 0
    while time.monotonic() < deadline:
        rounds += 1

        # Shrinking a CLI run can take Hypothesis minutes; with --no-shrink the failing
        # example is reported as generated, and the budget goes to finding more.
        phases = [Phase.generate] if args.no_shrink else [Phase.generate, Phase.shrink]

        @settings(max_examples=args.examples_per_round, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), report_multiple_bugs=True,
                  phases=phases)
        @given(fuzz.calls())
        def campaign(call):
            fuzz.check_call(call)

        try:
            campaign()
        except BaseException as exc:  # noqa: BLE001 - every failure is a finding to report
            if isinstance(exc, KeyboardInterrupt):
                break
            text = "".join(traceback.format_exception(exc))
            key = text.strip().splitlines()[-1][:200]
            if key not in findings:
                findings[key] = text
                print(f"--- finding {len(findings)} (round {rounds}) ---\n{text}", flush=True)
        print(f"round {rounds}: {sum(exit_codes.values())} runs so far, exit codes "
              f"{dict(sorted(exit_codes.items()))}, {len(findings)} distinct finding(s)",
              flush=True)
    print(f"done: {rounds} rounds, {sum(exit_codes.values())} command runs, "
          f"{len(findings)} distinct finding(s)")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
