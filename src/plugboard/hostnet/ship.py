"""The agent as one zip archive, the way Ansible ships its modules: what runs on a remote host
(plugboard.hostnet.agent) with every module it imports and pyroute2, which is pure Python.

The host needs only Python 3 (3.9 or newer, as pyroute2 does): no plugboard, no pyroute2 and
no pydantic there. The archive is built once per service process, in memory and byte for
byte the same for the same sources (fixed timestamps, sorted names), so its hash names the
version: a host keeps the copy it was sent under that name, and is sent a new one only when
plugboard or pyroute2 changed (plugboard.hostnet.sshagent).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import marshal
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pyroute2

import plugboard.hostnet

# The agent and what it imports from plugboard; the stand-in plugboard/__init__.py below keeps
# the real one (importlib.metadata of an installed package) out. A module added to the agent's
# imports must be named here: tests/unit/test_hostnet_ship.py runs the archive without
# site-packages and fails when one is missing.
MODULES = ("__init__", "agent", "checkpoint", "desired_plain", "model", "netlink", "netops",
           "persist", "plan", "probe")  # fmt: skip
PACKAGE_INIT = '"""plugboard\'s host agent, shipped as a zip archive (plugboard.hostnet.ship)."""\n'
MAIN = (
    "import sys\n"
    "from plugboard.hostnet.agent import main\n"
    "sys.exit(main())\n"
)  # fmt: skip
STAMP = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes whenever it is built
MARSHAL_VERSION = 2  # no shared references: the same bytes whatever the process holds
UNCHECKED_HASH_PYC = 0b01  # PEP 552: a bytecode file that is used without a look at its source


@dataclass(frozen=True)
class Archive:
    data: bytes
    digest: str  # sha256 of `data`, hex

    @property
    def name(self) -> str:
        return f"plugboard-agent-{self.digest[:16]}.pyz"


def _files() -> dict[str, bytes]:
    hostnet = Path(plugboard.hostnet.__file__).parent
    files = {"__main__.py": MAIN.encode(), "plugboard/__init__.py": PACKAGE_INIT.encode()}
    for module in MODULES:
        files[f"plugboard/hostnet/{module}.py"] = (hostnet / f"{module}.py").read_bytes()
    library = Path(pyroute2.__file__).parent
    for path in library.rglob("*.py"):
        files[f"pyroute2/{path.relative_to(library).as_posix()}"] = path.read_bytes()
    return files


def _bytecode(name: str, source: bytes) -> bytes:
    """`name`'s bytecode for this Python, as zipimport reads it beside the source. Why: zipimport
    cannot cache what it compiles, and compiling pyroute2 at each run took 20 s in a guest under
    TCG. A host whose Python is another version finds the magic number wrong and compiles the
    source instead (zipimport falls back to it). Marshal's version 2: the newer ones mark an
    object shared when its reference count is above one, which depends on what else the
    process holds, so the same source gave other bytes (and another archive name) later."""
    code = compile(source, name, "exec", dont_inherit=True)
    header = importlib.util.MAGIC_NUMBER + UNCHECKED_HASH_PYC.to_bytes(4, "little")
    return header + importlib.util.source_hash(source) + marshal.dumps(code, MARSHAL_VERSION)


def _with_bytecode(files: dict[str, bytes]) -> dict[str, bytes]:
    compiled = {f"{n}c": _bytecode(n, src) for n, src in files.items() if n != "__main__.py"}
    return files | compiled


@functools.cache
def archive() -> Archive:
    """The agent's zip archive (built on first use, then kept)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(_with_bytecode(_files()).items()):
            info = zipfile.ZipInfo(name, STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    data = buffer.getvalue()
    return Archive(data, hashlib.sha256(data).hexdigest())
