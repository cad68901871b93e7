"""The benchmarks' figures for `cargo xtask bench`: one JSON object per line appended to the file
FLOWO_BENCH_FIGURES names (the format is in flowo-testkit/src/figures.rs). Without that
variable, nothing is written."""

from __future__ import annotations

import json
import math
import os


def record(name: str, value: float, unit: str, target: float | None, better: str,
           note: str | None = None, limit: float | None = None) -> None:  # fmt: skip
    """Appends one figure; a value that is not a finite number is a failed measurement. `limit`
    is the physical limit of the same work, in the same unit."""
    path = os.environ.get("FLOWO_BENCH_FIGURES")
    if not path:
        return
    finite = value if isinstance(value, (int, float)) and math.isfinite(value) else None
    line = {"name": name, "value": finite, "unit": unit, "target": target, "better": better,
            "limit": limit, "note": note}  # fmt: skip
    with open(path, "a") as out:
        out.write(json.dumps(line) + "\n")
