"""Settings of the plugboard service and CLI, in one class.

Sources, strongest first: keyword arguments, environment (`PLUGBOARD_*`), the TOML file named by
`PLUGBOARD_CONFIG` (default `$XDG_CONFIG_HOME/plugboard/config.toml`, if it exists), defaults.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from sqlalchemy.engine import make_url

from plugboard.hosts.model import DomainType


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or Path.home() / fallback)


def config_dir() -> Path:
    """Where the token and the service's URL are kept for the CLI."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "plugboard"


def data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/plugboard")
    return _xdg("XDG_DATA_HOME", ".local/share") / "plugboard"


def config_file() -> Path:
    return Path(os.environ.get("PLUGBOARD_CONFIG") or config_dir() / "config.toml")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PLUGBOARD_", extra="forbid")

    listen_host: str = Field("127.0.0.1", description="Address the service listens on.")
    listen_port: int = Field(8470, ge=1, le=65535, description="Port the service listens on.")
    database_url: SecretStr = Field(
        default_factory=lambda: SecretStr(f"sqlite:///{data_dir() / 'plugboard.db'}"),
        description="SQLAlchemy URL of the store (SQLite file by default, or PostgreSQL).",
    )
    config_dir: Path = Field(
        default_factory=config_dir, description="Where the admin token and the URL are written."
    )
    local_uri: str = Field("qemu:///system", description="libvirt URI of the host `local`.")
    local_domain_type: DomainType = Field(
        "auto", description="Domain type for `local`: kvm where it works, else qemu."
    )
    host_call_timeout: float = Field(30.0, gt=0, description="Seconds a libvirt call may take.")
    host_workers: int = Field(4, ge=1, le=64, description="libvirt threads per host.")
    reconnect_max_delay: float = Field(
        30.0, gt=0, description="Longest wait between reconnect attempts."
    )
    reconcile_interval: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="Seconds between full reads of each host (repairing missed events).",
    )
    hotunplug_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds a guest has to release a hot-unplugged card."
    )
    hostnet_run_dir: Path = Field(
        Path("/run/plugboard/hostnet"),
        description="Where host network changes of local hosts keep their state (a tmpfs: a "
        "change waiting for confirmation does not outlive a reboot, nor does its rollback).",
    )
    hostnet_etc_dir: str = Field(
        "/etc/network",
        description="Where a confirmed host network change is written on the host, in "
        "ifupdown's format (its interfaces.d/plugboard); '{host}' is replaced by the host's "
        "name (hosts whose libvirtd runs on this machine share its /etc).",
    )
    session_idle_timeout: float = Field(
        30 * 60.0,
        gt=0,
        le=7 * 24 * 3600,
        description="Seconds a web session may go unused before its user signs in again.",
    )
    # The boundary's limits (README, "Limits"): each one chosen, none left at a default.
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=64 * 1024,
        le=256 * 1024 * 1024,
        description="Largest request body; libvirt's RPC refuses a longer XML string anyway.",
    )
    body_timeout: float = Field(
        30.0, gt=0, le=600, description="Seconds a client has to send a request's whole body."
    )
    max_connections: int = Field(
        256, ge=8, le=65536, description="Connections served at once; more get 503."
    )
    keepalive_timeout: float = Field(
        5.0, gt=0, le=300, description="Seconds an idle keep-alive connection is kept open."
    )

    @property
    def token_file(self) -> Path:
        return self.config_dir / "token"

    @property
    def url_file(self) -> Path:
        return self.config_dir / "url"

    @property
    def api_url(self) -> str:
        return f"http://{self.listen_host}:{self.listen_port}"

    def describe(self) -> dict[str, str]:
        """Every setting as text, secrets masked, for printing at start."""
        values = {name: str(getattr(self, name)) for name in type(self).model_fields}
        values["database_url"] = make_url(self.database_url.get_secret_value()).render_as_string(
            hide_password=True
        )
        values["config_file"] = str(config_file()) + ("" if config_file().exists() else " (none)")
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )
