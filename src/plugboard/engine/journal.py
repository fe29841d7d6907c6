"""The operation journal and the vNIC notes, in the store.

Before the first step of a change, the operation is written: its host, VM and vNIC, the vNIC
before and as asked, and its steps (plugboard.engine.steps). Each step is marked as it
completes and the end is marked with the outcome, so a change interrupted by a crash (kill -9,
a power cut, libvirtd going away) is found and finished or rolled back by recovery, by any
service process on the store. The operation's new MAC is reserved in the same transaction: the
store's primary key, not a lock in memory, keeps two processes from handing out one MAC.

The notes say what libvirt cannot: how plugboard last left each vNIC (the baseline that tells a
change made outside plugboard), and whether a running vNIC's tap lost its network.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from plugboard.engine import audit
from plugboard.errors import MacAddressInUse
from plugboard.store import MacReservation, Operation, Store, VnicNote
from plugboard.store.models import utcnow

# This service process, as the journal names it.
OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
RUNNING, DONE, ROLLED_BACK, ATTENTION, TIMED_OUT, CLEARED = (
    "running",
    "done",
    "rolled-back",
    "attention",
    "timed-out",
    "cleared",
)


# The journal's writes, built once: a change pays for its SQL, not for building it.
OPS, NOTES = cast(Table, Operation.__table__), cast(Table, VnicNote.__table__)
_SAME_VNIC = (
    OPS.c.host == bindparam("b_host"),
    OPS.c.vm_uuid == bindparam("b_vm_uuid"),
    OPS.c.vnic == bindparam("b_vnic"),
)
_NOTE_KEY = (
    NOTES.c.host == bindparam("b_host"),
    NOTES.c.vm_uuid == bindparam("b_vm_uuid"),
    NOTES.c.vnic == bindparam("b_vnic"),
)
_BEGIN = insert(OPS)
_ADVANCE = update(OPS).where(OPS.c.id == bindparam("b_id")).values(done=bindparam("b_done"))
_FINISH = (
    update(OPS)
    .where(OPS.c.id == bindparam("b_id"))
    .values(
        done=bindparam("b_done"),
        state=bindparam("b_state"),
        detail=bindparam("b_detail"),
        ended_at=bindparam("b_ended_at"),
    )
)
_ANSWER = (
    update(OPS)
    .where(*_SAME_VNIC, OPS.c.state.in_((ATTENTION, TIMED_OUT)), OPS.c.id != bindparam("b_id"))
    .values(state=CLEARED)
)
_SET_BASELINE = (
    update(NOTES)
    .where(*_NOTE_KEY)
    .values(baseline=bindparam("b_baseline"), drift=None, updated_at=bindparam("b_updated_at"))
)
_ADD_BASELINE = insert(NOTES)
_FORGET = delete(NOTES).where(*_NOTE_KEY)


@dataclass
class Entry:
    """One operation of the journal."""

    id: str
    host: str
    vm_uuid: str
    vm_name: str
    vnic: str
    kind: str  # add, change, remove, reconnect
    before: dict[str, Any] | None  # the vNIC as it was (vnic_to_json), None: it did not exist
    desired: dict[str, Any] | None  # the vNIC as asked, None: removed
    steps: list[dict[str, Any]]
    done: int = 0
    state: str = RUNNING
    detail: str | None = None
    started: float = field(default_factory=time.monotonic, compare=False)  # in this process

    @property
    def target(self) -> str:
        return f"hosts/{self.host}/vms/{self.vm_name}/nics/{self.vnic}"

    @classmethod
    def new(cls, host: str, vm_uuid: str, vm_name: str, vnic: str, kind: str, **rest: Any) -> Entry:
        return cls(str(uuid.uuid4()), host, vm_uuid, vm_name, vnic, kind, **rest)


def begin(store: Store, entry: Entry, reserve: str | None = None) -> None:
    """Write the operation before its first step, and reserve the MAC it gives a vNIC."""
    try:
        with store.session() as db:
            if reserve is not None:
                _reserve(db, entry, reserve)
            db.execute(
                _BEGIN,
                {
                    "id": entry.id,
                    "host": entry.host,
                    "vm_uuid": entry.vm_uuid,
                    "vm_name": entry.vm_name,
                    "vnic": entry.vnic,
                    "kind": entry.kind,
                    "before": entry.before,
                    "desired": entry.desired,
                    "steps": entry.steps,
                    "done": entry.done,
                    "state": RUNNING,
                    "owner": OWNER,
                    "started_at": utcnow(),
                },
            )
    except IntegrityError:
        raise MacAddressInUse(
            f"MAC {reserve} was just given to another vNIC; leave mac out to get a free one",
            mac=reserve,
        ) from None


def _reserve(db: Session, entry: Entry, mac: str) -> None:
    held = db.get(MacReservation, mac)
    if held is not None and (held.host, held.vm_uuid, held.vnic) == (
        entry.host,
        entry.vm_uuid,
        entry.vnic,
    ):
        return  # this vNIC's own MAC (an interrupted change of it, say)
    db.add(
        MacReservation(
            mac=mac, host=entry.host, vm_uuid=entry.vm_uuid, vnic=entry.vnic, reserved_at=utcnow()
        )
    )
    db.flush()


def advance(store: Store, entry: Entry) -> None:
    """Mark the steps done so far (`entry.done`)."""
    with store.session() as db:
        db.execute(_ADVANCE, {"b_id": entry.id, "b_done": entry.done})


def finish(
    store: Store,
    entry: Entry,
    state: str,
    *,
    detail: str | None = None,
    baseline: dict[str, Any] | None = None,
    release: Iterable[str] = (),
) -> None:
    """Mark the end (`state`): the vNIC's baseline becomes `baseline` (the vNIC as plugboard
    left it; None with `state` done and nothing desired: it is gone), MACs no longer used are
    released, an earlier call for attention on the vNIC is answered, and the audit log has the
    operation's outcome (in the same transaction: a crash loses neither or both)."""
    entry.state, entry.detail = state, detail
    now = utcnow()
    vnic = {
        "b_id": entry.id,
        "b_host": entry.host,
        "b_vm_uuid": entry.vm_uuid,
        "b_vnic": entry.vnic,
    }
    with store.session() as db:
        audit.record(
            db,
            actor="plugboard",
            action=f"operation {entry.kind}",
            target=entry.target,
            status=0,
            result=state,
            detail=f"operation {entry.id}" + (f": {detail}" if detail else ""),
            duration_ms=(time.monotonic() - entry.started) * 1000,
        )
        db.execute(
            _FINISH,
            {**vnic, "b_done": entry.done, "b_state": state, "b_detail": detail, "b_ended_at": now},
        )
        if state in (DONE, ROLLED_BACK):
            db.execute(_ANSWER, vnic)
        if state == DONE and entry.desired is None:
            db.execute(_FORGET, vnic)
        elif state == DONE:
            changed = db.execute(
                _SET_BASELINE, {**vnic, "b_baseline": baseline, "b_updated_at": now}
            )
            if changed.rowcount == 0:  # type: ignore[attr-defined]
                db.execute(
                    _ADD_BASELINE,
                    {"host": entry.host, "vm_uuid": entry.vm_uuid, "vnic": entry.vnic,
                     "baseline": baseline, "updated_at": now},
                )  # fmt: skip
        if release:
            db.execute(
                delete(MacReservation).where(
                    MacReservation.mac.in_(list(release)),
                    MacReservation.host == entry.host,
                    MacReservation.vm_uuid == entry.vm_uuid,
                )
            )


# --- reading ---------------------------------------------------------------------------------
_ENTRY_COLUMNS = ("id", "host", "vm_uuid", "vm_name", "vnic", "kind", "before", "desired", "steps",
                  "done", "state", "detail")  # fmt: skip
_OPEN_OPS = (
    select(*(OPS.c[name] for name in _ENTRY_COLUMNS))
    .where(
        OPS.c.host == bindparam("b_host"),
        OPS.c.vm_uuid == bindparam("b_vm_uuid"),
        OPS.c.state.in_((RUNNING, ATTENTION, TIMED_OUT)),
    )
    .order_by(OPS.c.started_at)
)
_NOTES = select(NOTES.c.vnic, NOTES.c.baseline, NOTES.c.drift, NOTES.c.disconnected).where(
    NOTES.c.host == bindparam("b_host"), NOTES.c.vm_uuid == bindparam("b_vm_uuid")
)


@dataclass(frozen=True)
class Note:
    """A vNIC's note (plugboard.store.VnicNote) as read."""

    baseline: dict[str, Any] | None
    drift: str | None
    disconnected: str | None


@dataclass
class VmNotes:
    """What the store knows of one VM's vNICs."""

    unfinished: list[Entry] = field(default_factory=list)  # running: interrupted, to recover
    attention: dict[str, Entry] = field(default_factory=dict)  # vNIC -> its operation
    timed_out: dict[str, Entry] = field(default_factory=dict)  # vNIC -> its last unplug
    notes: dict[str, Note] = field(default_factory=dict)

    def pending(self, vnic: str) -> Entry | None:
        return next((e for e in self.unfinished if e.vnic == vnic), None)


def vm_notes(store: Store, host: str, vm_uuid: str) -> VmNotes:
    found = VmNotes()
    key = {"b_host": host, "b_vm_uuid": vm_uuid}
    with store.session() as db:
        for op in db.execute(_OPEN_OPS, key):
            entry = Entry(**{name: op._mapping[name] for name in _ENTRY_COLUMNS})
            if op.state == RUNNING:
                found.unfinished.append(entry)
            elif op.state == ATTENTION:
                found.attention[op.vnic] = entry
            else:
                found.timed_out[op.vnic] = entry
        found.notes = {
            n.vnic: Note(n.baseline, n.drift, n.disconnected) for n in db.execute(_NOTES, key)
        }
    return found


def unfinished_vms(store: Store, host: str) -> list[tuple[str, str]]:
    """(uuid, name) of the host's VMs with an interrupted operation."""
    with store.session() as db:
        rows = db.execute(
            select(Operation.vm_uuid, Operation.vm_name)
            .where(Operation.host == host, Operation.state.in_((RUNNING, ATTENTION)))
            .distinct()
        )
        return [(uuid_, name) for uuid_, name in rows]


def add_baselines(
    store: Store, host: str, vm_uuid: str, baselines: dict[str, dict[str, Any] | None]
) -> None:
    """First sight of vNICs: how they are is how plugboard found them (None: a card added
    outside plugboard to a VM it knew). A note made meanwhile by another request stays."""
    dialect_insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    with store.session() as db:
        for vnic, baseline in baselines.items():
            db.execute(
                dialect_insert(VnicNote)
                .values(
                    host=host, vm_uuid=vm_uuid, vnic=vnic, baseline=baseline, updated_at=utcnow()
                )
                .on_conflict_do_nothing()
            )


def reserve_macs(store: Store, host: str, vm_key: str, macs: dict[str, str]) -> None:
    """Reserve the MACs (vNIC -> MAC) of a VM being made, under `vm_key` until it has its
    UUID (`rekey`); MAC_ADDRESS_IN_USE when another process has just taken one."""
    try:
        with store.session() as db:
            for vnic, mac in macs.items():
                db.add(MacReservation(mac=mac, host=host, vm_uuid=vm_key, vnic=vnic))
                db.flush()
    except IntegrityError:
        raise MacAddressInUse(
            "a MAC of the new VM was just given to another vNIC; retry (leave the MACs out to "
            "get free ones)"
        ) from None


def rekey(store: Store, host: str, vm_key: str, vm_uuid: str | None) -> None:
    """The VM made under `vm_key` has `vm_uuid`; None: it was not made, its MACs are free."""
    with store.session() as db:
        where = (MacReservation.host == host, MacReservation.vm_uuid == vm_key)
        if vm_uuid is None:
            db.execute(delete(MacReservation).where(*where))
        else:
            db.execute(update(MacReservation).where(*where).values(vm_uuid=vm_uuid))


def reserved_macs(store: Store) -> set[str]:
    with store.session() as db:
        return set(db.scalars(select(MacReservation.mac)))


def set_note(store: Store, host: str, vm_uuid: str, vnic: str, **values: Any) -> None:
    """Change a vNIC's note (baseline, drift, disconnected); made when missing."""
    key = {"host": host, "vm_uuid": vm_uuid, "vnic": vnic}
    with store.session() as db:
        note = db.get(VnicNote, key)
        if note is None:
            values.setdefault("baseline", None)
            db.add(VnicNote(**key, **values, updated_at=utcnow()))
            return
        for name, value in values.items():
            setattr(note, name, value)
        note.updated_at = utcnow()


def forget_vnic(store: Store, host: str, vm_uuid: str, vnic: str) -> None:
    with store.session() as db:
        db.execute(
            delete(VnicNote).where(
                VnicNote.host == host, VnicNote.vm_uuid == vm_uuid, VnicNote.vnic == vnic
            )
        )


def forget_vm(store: Store, host: str, vm_uuid: str) -> None:
    """A VM is gone: its notes and MAC reservations go too (its journal stays, as history)."""
    with store.session() as db:
        db.execute(delete(VnicNote).where(VnicNote.host == host, VnicNote.vm_uuid == vm_uuid))
        db.execute(
            delete(MacReservation).where(
                MacReservation.host == host, MacReservation.vm_uuid == vm_uuid
            )
        )
