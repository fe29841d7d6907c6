"""schemathesis' own command line against `plugboard serve` as administrators run it (uvicorn on
a real socket, the real URI handling), in network and mount namespaces of its own:

- the network namespace has only `lo`, so a generated host URI (qemu+ssh://somewhere/system)
  reaches nothing;
- libvirt's and the test hosts' socket directories are hidden under empty tmpfs mounts, and
  libvirt does not start session daemons (LIBVIRT_AUTOSTART=0), so a generated qemu:///system
  or socket= URI reaches no libvirtd either. The host `local` is libvirt's test driver.

    python -m tests.boundary.fuzz_served --max-time 120 --out summary.json

schemathesis authenticates with tests/boundary/fuzz_auth.py: when the fuzzer has revoked its own
token, the local recovery command gets a new one. Writes a summary (requests made, statuses
seen, server errors, failed checks, token recoveries) as JSON and
exits with schemathesis' exit code. Run by tests/boundary/test_fuzz_served.py (bounded) and by
benchmarks/fuzz_served.py (longer).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HIDDEN = ("/run/libvirt", "/var/run/libvirt", "/run/plugboard-testhost", "/var/lib/libvirt")
ISOLATED = "PLUGBOARD_FUZZ_ISOLATED"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # the checks' expected statuses, why


def isolate() -> None:
    """Run this script again in new network and mount namespaces (and die with it)."""
    command = ["unshare", "--net", "--mount", "--propagation", "private", "--fork", "--kill-child",
               sys.executable, "-m", "tests.boundary.fuzz_served", *sys.argv[1:]]  # fmt: skip
    os.execvpe("unshare", command, os.environ | {ISOLATED: "1"})


def seal(home: Path) -> dict[str, str]:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for directory in HIDDEN:
        if Path(directory).is_dir() and not Path(directory).is_symlink():
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "none", directory], check=True)
    return {"LIBVIRT_AUTOSTART": "0", "HOME": str(home), "XDG_RUNTIME_DIR": str(home)}


def settings(directory: Path, port: int) -> dict[str, str]:
    """The service's settings (the recovery command of fuzz_auth uses them too)."""
    return {
        "PLUGBOARD_DATABASE_URL": f"sqlite:///{directory / 'plugboard.db'}",
        "PLUGBOARD_CONFIG_DIR": str(directory / "config"),
        "PLUGBOARD_CONFIG": str(directory / "none.toml"),  # not the machine user's file
        "PLUGBOARD_LOCAL_URI": "test:///default",
        "PLUGBOARD_LISTEN_PORT": str(port),
        "PLUGBOARD_HOST_CALL_TIMEOUT": "10",
        # a generated change reaches no host (none is local here), but an empty one is kept
        "PLUGBOARD_HOSTNET_RUN_DIR": str(directory / "hostnet"),
        "PLUGBOARD_HOSTNET_ETC_DIR": str(directory / "etc"),  # not the machine's /etc/network
    }


def serve(directory: Path, port: int, env: dict[str, str]) -> subprocess.Popen:
    log = (directory / "service.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "plugboard", "serve"], cwd=ROOT,
                            env=os.environ | env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).is_success:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the service did not start: see {directory / 'service.log'}")
        time.sleep(0.1)


def fuzz(directory: Path, port: int, max_time: int, seed: int, env: dict) -> int:
    reports = directory / "reports"
    env = env | {
        "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("fuzz_auth.py")),
        "PLUGBOARD_FUZZ_BASE": f"http://127.0.0.1:{port}/api/v1",
        "PLUGBOARD_FUZZ_RECOVERIES": str(directory / "recoveries"),
    }
    # One worker: two make no more requests on two cores, and schemathesis' threads can crash in
    # CPython 3.11's ast.parse ("AST constructor recursion depth mismatch", CPython gh-106905).
    command = [
        str(Path(sys.executable).parent / "schemathesis"), "--config-file", str(CONFIG), "run",
        f"http://127.0.0.1:{port}/api/v1/openapi.json",
        "--phases", "examples,coverage,fuzzing,stateful", "--checks", "all",
        "--max-time", str(max_time), "--seed", str(seed), "--workers", "1",
        "--generation-database", "none", "--request-timeout", "30",
        "--report", "har,ndjson", "--report-dir", str(reports), "--no-color",
        "--suppress-health-check", "all", "--continue-on-failure",
    ]  # fmt: skip
    with (directory / "schemathesis.log").open("w") as log:
        return subprocess.run(command, cwd=directory, env=os.environ | env, stdout=log,
                              stderr=subprocess.STDOUT, check=False).returncode  # fmt: skip


def problems(output: str) -> str:
    """schemathesis' ERRORS (its own crashes) and FAILURES sections, or its last lines."""
    found = re.search(r"^=+ (ERRORS|FAILURES) =+$", output, re.MULTILINE)
    return output[found.start() :][:20000] if found else output[-3000:]


def summarise(directory: Path, code: int, took: float) -> dict:
    statuses: collections.Counter[int] = collections.Counter()
    server_errors = []
    for har in (directory / "reports").glob("har-*.json"):
        for entry in json.loads(har.read_text())["log"]["entries"]:
            status = entry["response"]["status"]
            statuses[status] += 1
            if status >= 500:
                request = entry["request"]
                server_errors.append(f"{request['method']} {request['url']} -> {status}")
    output = (directory / "schemathesis.log").read_text(errors="replace")
    recoveries = directory / "recoveries"
    return {
        "exit_code": code,
        "seconds": round(took, 1),
        "requests": sum(statuses.values()),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": server_errors[:50],
        "failures": problems(output) if code else "",
        "summary": output[-3000:],
        "token_recoveries": len(recoveries.read_text().split()) if recoveries.exists() else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-time", type=int, default=120)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if not os.environ.get(ISOLATED):
        isolate()
    directory = Path(tempfile.mkdtemp(prefix="plugboard-fuzz-"))
    port = 8470
    env = seal(directory) | settings(directory, port)
    proc = serve(directory, port, env)
    try:
        started = time.monotonic()
        code = fuzz(directory, port, args.max_time, args.seed, env)
        summary = summarise(directory, code, time.monotonic() - started)
        summary["seed"], summary["directory"] = args.seed, str(directory)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    args.out.write_text(json.dumps(summary, indent=1))
    sys.exit(code)


if __name__ == "__main__":
    main()
