"""`make run`'s start of the machine's libvirtd (scripts/start-libvirtd), on a machine where
another libvirtd (a test host) already runs. Run in private network and mount namespaces with
an empty /run and libvirt state, so the libvirtd it starts is not the machine's own."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.harness import TestHost

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "start-libvirtd"

# Inside the namespaces: empty state, then the script, then a check, then stop what it started.
PRIVATE_MACHINE = """
set -eu
for dir in /run /var/lib/libvirt /var/log/libvirt /var/cache/libvirt \
           /etc/libvirt/qemu/networks/autostart; do
  mount -t tmpfs plugboard-test "$dir"
done
stop() {
  for pidfile in /run/libvirtd.pid /run/virtlogd.pid; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
}
trap stop EXIT
"$1"
virsh -q -c qemu:///system version >/dev/null && echo "answers"
"""


def test_start_libvirtd_starts_the_machines_own_when_a_test_host_runs(testhost: TestHost):
    assert testhost.conn.getLibVersion()  # another libvirtd runs on the machine
    run = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private",
         "sh", "-c", PRIVATE_MACHINE, "private-machine", str(SCRIPT)],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().endswith("answers"), run.stdout + run.stderr
