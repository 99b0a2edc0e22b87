"""Run every ``benchmarks/bench_*.py`` module (each has ``run() -> Table``) and print the tables.

``python -m benchmarks cpu_kinds [options]`` runs ``benchmarks/cpu_kinds.py`` instead.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    if sys.argv[1:2] == ["cpu_kinds"]:  # not a bench_* table: one child process per CPU kind
        from benchmarks.cpu_kinds import main as cpu_kinds

        return cpu_kinds(sys.argv[2:])
    from benchmarks.harness import machine_lines

    machine = machine_lines()
    print("\n".join(machine), flush=True)
    wanted = sys.argv[1:]
    here = Path(__file__).parent
    tables = []
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        if wanted and not any(w in info.name for w in wanted):
            continue
        print(f"== {info.name}", flush=True)
        module = importlib.import_module(f"benchmarks.{info.name}")
        tables.append(module.run())
    print()
    print("\n".join(f"- {line}" for line in machine))
    print()
    for table in tables:
        print(table.render())
        print()


if __name__ == "__main__":
    main()
