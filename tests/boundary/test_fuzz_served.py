"""schemathesis against `plugboard serve` (tests/boundary/fuzz_served.py), bounded in time: every
check on, both data checks; no server error, no failure. benchmarks/fuzz_served.py runs it
longer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 150
SEED = 20261206  # fixed: `make test` makes the same cases each time (the benchmark varies it)


def test_the_served_api_is_fuzz_clean(tmp_path):
    out = tmp_path / "summary.json"
    run = subprocess.run(
        [sys.executable, "-m", "tests.boundary.fuzz_served", "--max-time", str(SECONDS),
         "--seed", str(SEED), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=SECONDS + 240, check=False,
    )  # fmt: skip
    assert out.exists(), run.stdout + run.stderr
    summary = json.loads(out.read_text())
    print(
        f"\n{summary['requests']} requests in {summary['seconds']} s (seed {summary['seed']}); "
        f"statuses {summary['statuses']}; token recoveries {summary['token_recoveries']}"
    )
    assert summary["server_errors"] == [] or all(
        error.endswith("-> 502") for error in summary["server_errors"]
    ), summary["server_errors"]
    assert "500" not in summary["statuses"]
    assert summary["exit_code"] == 0, summary["failures"] or summary["summary"]
    # It reached the service's behaviour, not only its refusals.
    assert summary["requests"] > 3000
    statuses = summary["statuses"]
    assert int(statuses.get("200", 0)) + int(statuses.get("201", 0)) > 200, statuses
