"""Break each promise of the README on purpose, one at a time, and show that a test catches it.

Each :class:`Mutation` names a promise, the code that keeps it (a file and an exact snippet),
a broken version of that snippet, and the tests that guard the promise. For every mutation the
script exports the committed tree (``git archive HEAD``) into a temporary folder, applies that
one change, runs the guarding tests there with this virtual environment's Python, and expects
them to FAIL. A mutation whose tests still pass is a promise nothing protects: the script
exits 1 and names it.

    .venv/bin/python scripts/mutation_check.py            # every mutation
    .venv/bin/python scripts/mutation_check.py --list     # the promises and their guards
    .venv/bin/python scripts/mutation_check.py retry-429  # only the ones named

It is not part of ``.ci/run``: it runs the guarding tests once per mutation (several minutes).
A snippet that no longer matches the code is reported as STALE (exit 1), so the list cannot
silently rot when the code changes.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """One promise broken on purpose."""

    name: str
    promise: str
    path: str
    original: str
    broken: str
    tests: tuple[str, ...]


MUTATIONS: tuple[Mutation, ...] = ()
"""Filled in below, grouped by the README section whose promise they break."""


def _run_mutation(mutation: Mutation, timeout: float) -> tuple[str, float, str]:
    """Apply ``mutation`` to a fresh export of HEAD and run its tests: (verdict, seconds, tail)."""
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mutation.name}-") as tmp:
        root = Path(tmp)
        archive = subprocess.run(
            ["git", "archive", "HEAD"], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive, check=True)
        target = root / mutation.path
        source = target.read_text(encoding="utf-8")
        if source.count(mutation.original) != 1:
            return "STALE", 0.0, f"snippet found {source.count(mutation.original)} times"
        target.write_text(source.replace(mutation.original, mutation.broken), encoding="utf-8")
        env = {
            **os.environ,
            "PYTHONPATH": str(root),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        started = time.monotonic()
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-x",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    *mutation.tests,
                ],
                cwd=root,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return "CAUGHT (timeout)", time.monotonic() - started, ""
        seconds = time.monotonic() - started
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-3:])
        if result.returncode == 0:
            return "SURVIVED", seconds, tail
        if result.returncode in (1,):  # tests ran and failed
            return "CAUGHT", seconds, tail
        return f"ERROR (pytest exit {result.returncode})", seconds, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutations")
    parser.add_argument("--list", action="store_true", help="print promises and guards")
    parser.add_argument("--timeout", type=float, default=600, help="per mutation, seconds")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list:
        for m in chosen:
            print(f"{m.name}: {m.promise}\n    code: {m.path}\n    guards: {', '.join(m.tests)}")
        return 0
    failures = 0
    for m in chosen:
        verdict, seconds, tail = _run_mutation(m, args.timeout)
        print(f"{verdict:<10} {m.name:<32} {seconds:6.1f} s  {m.promise}", flush=True)
        if not verdict.startswith("CAUGHT"):
            failures += 1
            print("    " + tail.replace("\n", "\n    "), flush=True)
    print(f"{len(chosen) - failures} of {len(chosen)} mutations caught")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
