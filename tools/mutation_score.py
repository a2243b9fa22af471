"""Print mutmut's score per module and fail on surviving mutants not listed as equivalent.

Reads the results mutmut caches in ``mutants/`` (see tools/mutation.sh). A mutant counts as
*killed* when a test failed (or timed out) with it; *survived* when every covering test passed;
*no tests* when no selected test runs the mutated function. Survivors and untested mutants must
be listed in ``tests/mutation-equivalents.md`` (one ``- `name`: reason`` line each).

Usage: python tools/mutation_score.py [--all]   (``--all`` also lists each listed mutant)
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EQUIVALENTS = ROOT / "tests" / "mutation-equivalents.md"
KILLED = {1, 3, 24, -24, 36, 152, 255}  # test failure, pytest error, timeouts
SURVIVED = {0}
NO_TESTS = {5, 33}


def results() -> dict[str, int | None]:
    """Exit code of every mutant's test run (``None`` when not run yet), by mutant name."""
    out = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        out.update(json.loads(meta.read_text())["exit_code_by_key"])
    return out


def listed() -> set[str]:
    """Mutant names listed in tests/mutation-equivalents.md."""
    return set(re.findall(r"^- `([^`]+)`", EQUIVALENTS.read_text(), re.M))


def module(mutant: str) -> str:
    """``qgradbench.methods.spsa`` of ``qgradbench.methods.spsa.x_name__mutmut_3``."""
    return mutant.split(".x")[0] if ".x" in mutant else mutant.rsplit(".", 1)[0]


def main(argv: list[str]) -> int:
    """Print the table and the unexplained survivors; return 1 if there are any."""
    codes = results()
    if not codes:
        print("no mutmut results in mutants/: run tools/mutation.sh first")
        return 1
    equivalent = listed()
    rows: dict[str, Counter] = {}
    unexplained = []
    for name, code in sorted(codes.items()):
        counts = rows.setdefault(module(name), Counter())
        if code is None:
            counts["not run"] += 1
        elif code in KILLED:
            counts["killed"] += 1
        elif code in SURVIVED or code in NO_TESTS:
            kind = "equivalent" if name in equivalent else "survived"
            counts[kind] += 1
            if name not in equivalent:
                unexplained.append((name, "survived" if code in SURVIVED else "no tests"))
        else:
            counts["other"] += 1
            unexplained.append((name, f"exit code {code}"))
    # score: killed / (mutants run - equivalent ones)
    print(
        f"{'module':38} {'total':>6} {'killed':>7} {'equiv.':>7} {'surv.':>6} {'not run':>8}  score"
    )
    for mod, c in sorted(rows.items()):
        total = sum(c.values())
        judged = total - c["not run"] - c["equivalent"]
        score = f"{c['killed']}/{judged} = {c['killed'] / judged:.0%}" if judged else "-"
        print(
            f"{mod:38} {total:6} {c['killed']:7} {c['equivalent']:7} "
            f"{c['survived'] + c['other']:6} {c['not run']:8}  {score}"
        )
    for name, why in unexplained:
        print(f"UNEXPLAINED {why}: {name}")
    stale = sorted(equivalent - set(codes))
    for name in stale:
        print(f"listed but not a mutant any more: {name}")
    if "--all" in argv:
        for name in sorted(equivalent & set(codes)):
            print(f"equivalent: {name}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
