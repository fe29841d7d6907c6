"""A vNIC profile changed, and every vNIC wired through it brought to it, on every reachable
host: each one an ordinary vNIC change (plugboard.engine.vnics: planned, journaled, undone
alone on failure): one live update where libvirt allows it, an unplug + plug into the same
slot where it does not (the plan says which). VMs go in parallel, each VM's vNICs one after
the other; the answer lists each vNIC's outcome. (oVirt marks such vNICs "out of sync" until
the VM restarts or the card is plugged again.)"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from plugboard.engine import audit, policy, vnic_audit
from plugboard.engine.mirroring import follow_profile
from plugboard.engine.policy import Action
from plugboard.engine.profiles import ProfileSpec, check, fill, find, users
from plugboard.engine.tokens import Principal
from plugboard.engine.vnics import VnicChange, VnicChangeRequest, change_vnic
from plugboard.errors import PlugboardError
from plugboard.hosts.connection import HostConnection
from plugboard.hosts.registry import HostRegistry
from plugboard.store import Store
from plugboard.store.models import Profile
from plugboard.vnic import VnicEdit

log = logging.getLogger(__name__)
PARALLEL = 8  # VMs changed at once
AUDIT_ACTION = "PATCH /hosts/{host}/vms/{vm}/nics/{nic} (profile)"


@dataclass
class VnicOutcome:
    host: str
    vm: str
    vnic: str
    outcome: str = "pending"  # ok, unchanged, planned, failed
    plan: list[str] = field(default_factory=list)
    pci_address: str | None = None
    error: dict[str, str] | None = None


@dataclass
class ProfileChange:
    profile: Profile
    vnics: list[VnicOutcome]
    unchecked_hosts: list[str]


def update_profile(
    store: Store,
    registry: HostRegistry,
    by: Principal,
    spec: ProfileSpec,
    *,
    dry_run: bool = False,
    hotunplug_timeout: float = 30.0,
) -> ProfileChange:
    """Replace the profile, then bring every vNIC wired through it to it (a dry run: each
    vNIC's plan, nothing changes). A vNIC that fails is undone alone and reported; asking
    again retries the vNICs that are not as the profile says (the others plan nothing)."""
    policy.require(by, Action.ADMIN, "profiles")
    check(spec)
    with store.session() as db:
        found = find(db, spec.name)
        if not dry_run:
            fill(found, spec)
            db.flush()
        profile = Profile(  # a copy to present, outside the transaction
            name=found.name,
            description=found.description,
            spec=found.spec,
            created_at=found.created_at,
            updated_at=found.updated_at,
        )
    using, unchecked = users(registry, spec.name)
    outcomes = [VnicOutcome(u.host, u.vm, u.vnic) for u in using]
    job = _Job(store, registry, by, spec, dry_run, hotunplug_timeout)
    by_vm: dict[tuple[str, str], list[VnicOutcome]] = {}
    for outcome in outcomes:
        by_vm.setdefault((outcome.host, outcome.vm), []).append(outcome)
    if by_vm:
        with ThreadPoolExecutor(min(PARALLEL, len(by_vm)), "profile-vm") as pool:
            for results in by_vm.values():
                pool.submit(job.one_vm, results)
    return ProfileChange(profile, outcomes, unchecked)


@dataclass(frozen=True)
class _Job:
    store: Store
    registry: HostRegistry
    by: Principal
    spec: ProfileSpec
    dry_run: bool
    hotunplug_timeout: float

    def one_vm(self, outcomes: list[VnicOutcome]) -> None:
        for outcome in outcomes:
            try:
                self.one_vnic(outcome)
            except Exception as err:  # a bug: this vNIC says so, the others go on
                log.exception("vNIC %s/%s not brought to its profile", outcome.vm, outcome.vnic)
                outcome.outcome = "failed"
                outcome.error = {"code": PlugboardError.code, "detail": f"internal error: {err!r}"}

    def one_vnic(self, outcome: VnicOutcome) -> None:
        host = self.registry.get(outcome.host)
        req = VnicChangeRequest(
            outcome.vm,
            outcome.vnic,
            VnicEdit(self.spec.fields()),
            self.by,
            dry_run=self.dry_run,
            hotunplug_timeout=self.hotunplug_timeout,
        )
        started = time.perf_counter()
        try:
            change = change_vnic(host, self.registry, self.store, req)
        except PlugboardError as err:
            attempt: VnicChange | None = err.attempt
            outcome.outcome = "failed"
            outcome.plan = list(attempt.plan.kinds) if attempt is not None else []
            outcome.error = {"code": err.code, "detail": err.detail}
            self._record(outcome, vnic_audit.failed(err, **self._how(outcome)), err.status, started)
            return
        kinds: list[str] = list(change.plan.kinds)
        outcome.plan = kinds
        outcome.pci_address = change.vnic.pci_address if change.vnic is not None else None
        if self.dry_run:
            outcome.outcome = "planned"
        else:
            self._mirroring(host, outcome, kinds)
            if outcome.error is None:
                outcome.outcome = "unchanged" if kinds == ["none"] else "ok"
            if outcome.outcome == "ok":
                account = vnic_audit.changed(change, **self._how(outcome))
                self._record(outcome, account, 200, started)

    def _mirroring(self, host: HostConnection, outcome: VnicOutcome, kinds: list[str]) -> None:
        """The vNIC's port mirroring as the profile says, once its card is."""
        on = self.spec.port_mirroring
        try:
            switched = follow_profile(host, self.store, self.by, outcome.vm, outcome.vnic, on)
        except PlugboardError as err:
            outcome.outcome = "failed"
            outcome.error = {
                "code": err.code,
                "detail": f"port mirroring not switched: {err.detail}",
            }
            return
        if switched is not None:
            kinds.append(f"port-mirroring {'on' if on else 'off'}")

    def _how(self, outcome: VnicOutcome) -> dict[str, Any]:
        return {
            "operation": "change",
            "name": outcome.vnic,
            "asked": {"profile": self.spec.name},
            "dry_run": self.dry_run,
        }

    def _record(
        self, outcome: VnicOutcome, account: vnic_audit.VnicAccount, status: int, started: float
    ) -> None:
        if self.dry_run:
            return
        with self.store.engine.begin() as db:
            audit.record(
                db,
                actor=self.by.name,
                via=self.by.via,
                action=AUDIT_ACTION,
                target=f"hosts/{outcome.host}/vms/{outcome.vm}/nics/{outcome.vnic}",
                status=status,
                result="ok" if status < 400 else account.data.get("error", {}).get("code", "ERROR"),
                detail=f"{account.detail} (profile {self.spec.name} changed)",
                duration_ms=(time.perf_counter() - started) * 1000,
                data=account.data,
            )
