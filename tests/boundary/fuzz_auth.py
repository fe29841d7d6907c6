"""schemathesis' authentication for tests/boundary/fuzz_served.py (loaded by SCHEMATHESIS_HOOKS).

The stateful phase creates admin tokens and revokes tokens by name, the one it is using among
them: with another admin token alive that is allowed (only the last is refused). An
administrator locked out that way runs the local recovery command on the service's machine,
and so does this: after a 401, when the token no longer works, `plugboard admin-token --reset`
(with the service's settings) writes a new one to the token file. Each recovery is counted
in PLUGBOARD_FUZZ_RECOVERIES, one line each, for the run's summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import schemathesis

TOKEN_FILE = Path(os.environ["PLUGBOARD_CONFIG_DIR"]) / "token"
BASE = os.environ["PLUGBOARD_FUZZ_BASE"]
RECOVERIES = Path(os.environ["PLUGBOARD_FUZZ_RECOVERIES"])


def _works(token: str) -> bool:
    answer = httpx.get(f"{BASE}/tokens", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return answer.status_code != 401


@schemathesis.auth()  # fetched again after any 401 (schemathesis' retry_on default)
class AdminToken:
    def get(self, case: object, context: object) -> str:
        token = TOKEN_FILE.read_text().strip()
        if _works(token):
            return token
        subprocess.run(
            [sys.executable, "-m", "plugboard", "admin-token", "--reset", "--output", "json"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with RECOVERIES.open("a") as log:
            log.write("recovered\n")
        token = TOKEN_FILE.read_text().strip()
        if not _works(token):
            raise RuntimeError("plugboard admin-token --reset wrote a token that does not work")
        return token

    def set(self, case: schemathesis.Case, data: str, context: object) -> None:
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
