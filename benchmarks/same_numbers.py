"""Compare two runs' summary.json field by field: the check that a refactoring left every number unchanged.

    python benchmarks/same_numbers.py BEFORE/results/digits/summary.json AFTER/results/digits/summary.json

Floats agree to a relative tolerance (default 1e-9); strings, integers, booleans and the structure must be equal.
Fields that measure time or name where or when the run happened are left out (their names match ``--skip``).
Prints one line per difference and exits 1 when there is any.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

SKIP = r"(^|_)(wall|seconds|elapsed|time|timing|duration|started|finished|date|created|host|python|versions?)($|_)"


def differences(a, b, *, rtol: float = 1e-9, skip: str = SKIP, path: str = "") -> list[str]:
    """Every place where *a* and *b* differ, as ``path: a != b`` lines (fields whose key matches *skip* left out)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            if re.search(skip, str(key)):
                continue
            where = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                out.append(f"{where}: only in {'after' if key not in a else 'before'}")
            else:
                out += differences(a[key], b[key], rtol=rtol, skip=skip, path=where)
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b))
            for d in differences(x, y, rtol=rtol, skip=skip, path=f"{path}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            if (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
                return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--rtol", type=float, default=1e-9)
    ap.add_argument("--skip", default=SKIP, help="regular expression of field names left out")
    a = ap.parse_args()
    diff = differences(json.loads(a.before.read_text()), json.loads(a.after.read_text()), rtol=a.rtol, skip=a.skip)
    for line in diff:
        print(line)
    print(f"{a.after}: {'same numbers' if not diff else f'{len(diff)} differences'}", file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
