"""The served fuzz run of tests/boundary/fuzz_served.py, for longer than `make test` gives it:
schemathesis' command line (every check, both data checks, the stateful phase) against
`plugboard serve` in network and mount namespaces of its own with only `lo`.

Run as root:  .venv/bin/python benchmarks/fuzz_served.py [--minutes 8] [--seed N]

Prints the requests made, the statuses seen, the server errors and the failures (none is the
aim); the whole summary is written to build/fuzz-served.json.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=8)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    out = ROOT / "build" / "fuzz-served.json"
    out.parent.mkdir(exist_ok=True)
    seconds = int(args.minutes * 60)
    subprocess.run(
        [sys.executable, "-m", "tests.boundary.fuzz_served", "--max-time", str(seconds),
         "--seed", str(args.seed), "--out", str(out)],
        cwd=ROOT, check=False, timeout=seconds + 600,
    )  # fmt: skip
    summary = json.loads(out.read_text())
    statuses = summary["statuses"]
    print(f"{summary['requests']} requests in {summary['seconds']} s (seed {summary['seed']})")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in statuses.items()))
    print(f"5xx other than 502 HOST_UNREACHABLE: "
          f"{sum(v for k, v in statuses.items() if k.startswith('5') and k != '502')}")  # fmt: skip
    print(f"token recoveries (admin-token --reset): {summary['token_recoveries']}")
    print(f"schemathesis exit code: {summary['exit_code']}")
    if summary["exit_code"]:
        print(summary["failures"])
    print(f"summary: {out}")


if __name__ == "__main__":
    main()
