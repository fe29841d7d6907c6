"""SQLAlchemy models. Schema changes go through Alembic (plugboard/store/migrations)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no time zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        return value.astimezone(UTC).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Fact(Base):
    """A fact about this installation, such as whether `local` was registered once."""

    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Host(Base):
    __tablename__ = "hosts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    uri: Mapped[str] = mapped_column(String(1024))
    domain_type: Mapped[str] = mapped_column(String(8), default="auto")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    """Someone who may use plugboard. Only an argon2id hash of the password is kept; a user
    without one (`password_hash` None) signs in with a token only. A disabled user's tokens
    and sessions are refused like revoked ones."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), default=None)
    role: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Token(Base):
    """An API token of a user. Only its SHA-256 is kept; the clear text is shown once, at
    creation. Its role is never more than its user's (plugboard.engine.tokens)."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_tokens_user_id_users"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Grant(Base):
    """A user's role on one object (oVirt's permissions): `network-user` on a host's network
    (may wire vNICs to it), `vm-operator` or `vm-viewer` on a VM, `host-admin` on a host. The
    object is named as the audit log names it: hosts/H, hosts/H/vms/V, hosts/H/networks/N."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "object", "role", name="uq_grants"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE", name="fk_grants_user_id_users"), index=True
    )
    object: Mapped[str] = mapped_column(String(256), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Event(Base):
    """One change request in the audit log: who asked what, on what, how it ended, how long."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    # How the actor showed who they are: "token NAME", "password", or None (plugboard, libvirt)
    via: Mapped[str | None] = mapped_column(String(128), default=None)
    action: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(512), index=True)
    status: Mapped[int] = mapped_column(Integer)
    result: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    duration_ms: Mapped[float] = mapped_column(Float)
    # What a change did, as data (a vNIC change: its plan, the vNIC before and after, the
    # outcome); None for events that have only words.
    data: Mapped[dict | None] = mapped_column(JSON(none_as_null=True), default=None)


class MacPool(Base):
    """Where new vNICs' MACs come from: ranges, and whether a MAC may be used twice."""

    __tablename__ = "mac_pools"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    ranges: Mapped[str] = mapped_column(Text)  # "from-to" pairs, one per line
    allow_duplicates: Mapped[bool] = mapped_column(Boolean, default=False)


class Template(Base):
    """What a new VM is made of: size, boot, libvirt networks and direct interfaces (the
    Kimchi RFC's proposal 2), and the model of its vNICs."""

    __tablename__ = "templates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    memory_mib: Mapped[int] = mapped_column(Integer)
    vcpus: Mapped[int] = mapped_column(Integer)
    domain_type: Mapped[str] = mapped_column(String(8), default="auto")
    boot: Mapped[dict] = mapped_column(JSON)  # kernel, initrd, cmdline, disk
    networks: Mapped[list] = mapped_column(JSON)  # libvirt network names
    interfaces: Mapped[list] = mapped_column(JSON)  # [{type, source: [names], mode}]
    nic_model: Mapped[str] = mapped_column(String(16), default="virtio")
    hotplug_slots: Mapped[int] = mapped_column(Integer, default=8)  # free root ports of its VMs
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Profile(Base):
    """A vNIC profile (oVirt's): a source (a libvirt network, on whichever host the VM is, or
    another kind), QoS, VLANs, port mirroring and a network filter that vNICs are wired
    through by name. `spec` is the profile's JSON as the API takes it (plugboard.engine.
    profiles reads it)."""

    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(256), default="")
    spec: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Operation(Base):
    """The journal: one change of one vNIC, written before its first step and marked as each
    step completes, so a change interrupted by a crash is finished or rolled back later."""

    __tablename__ = "operations"
    __table_args__ = (Index("ix_operations_vm", "host", "vm_uuid", "state"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    host: Mapped[str] = mapped_column(String(64))
    vm_uuid: Mapped[str] = mapped_column(String(36))
    vm_name: Mapped[str] = mapped_column(String(64))
    vnic: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # add, change, remove
    before: Mapped[dict | None] = mapped_column(JSON, default=None)  # the vNIC as it was
    desired: Mapped[dict | None] = mapped_column(JSON, default=None)  # the vNIC as asked
    steps: Mapped[list] = mapped_column(JSON)  # each step's kind and arguments, in order
    done: Mapped[int] = mapped_column(Integer, default=0)  # steps known to be completed
    state: Mapped[str] = mapped_column(String(16))  # running, done, rolled-back, attention
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    owner: Mapped[str] = mapped_column(String(64))  # the service process that ran it
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class VnicNote(Base):
    """What plugboard knows of a vNIC besides libvirt: how it last left it (`baseline`, to
    tell changes made outside plugboard), and whether its tap lost its network."""

    __tablename__ = "vnic_notes"
    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    vm_uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    vnic: Mapped[str] = mapped_column(String(64), primary_key=True)
    baseline: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # None: added outside
    drift: Mapped[str | None] = mapped_column(Text, default=None)  # as last recorded
    disconnected: Mapped[str | None] = mapped_column(Text, default=None)  # why, if it is
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MacReservation(Base):
    """A MAC handed to a vNIC: the primary key makes two service processes that pick the same
    free MAC at once collide in the store, not on the wire."""

    __tablename__ = "mac_reservations"
    mac: Mapped[str] = mapped_column(String(17), primary_key=True)
    host: Mapped[str] = mapped_column(String(64))
    vm_uuid: Mapped[str] = mapped_column(String(36))
    vnic: Mapped[str] = mapped_column(String(64))
    reserved_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
