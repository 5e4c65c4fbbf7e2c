"""Settings, read once from the environment.

=================================  =====================================================
variable                           meaning
=================================  =====================================================
``MODELPHASE_HOME``                home folder (datasets, registry...); ``./.modelphase``
``MODELPHASE_PROMETHEUS_URL``      base URL of the Prometheus HTTP API
``MODELPHASE_PROMETHEUS_TOKEN``    bearer token sent to Prometheus
``MODELPHASE_PROMETHEUS_USERNAME`` basic-auth user (with ``..._PASSWORD``)
``MODELPHASE_PROMETHEUS_PASSWORD`` basic-auth password
``MODELPHASE_PROMETHEUS_CA_CERT``  CA bundle to verify Prometheus's TLS certificate
``MODELPHASE_PROMETHEUS_INSECURE`` ``1`` turns TLS verification off (not recommended)
``MODELPHASE_PROMETHEUS_TIMEOUT``  seconds a request may take (default 30)
``MODELPHASE_REGISTRY_URL``        registry database (default SQLite in the home folder)
``MODELPHASE_ARTIFACTS_URL``       artifact store: a folder or an fsspec URL
``MODELPHASE_TOKEN``               API token for the registry and the server
``MODELPHASE_TOKEN_FILE``          a file whose first line is the token (wins over
                                   ``MODELPHASE_TOKEN``; keeps it out of ``ps``)
=================================  =====================================================

>>> s = load_settings({"MODELPHASE_HOME": "/srv/mp", "MODELPHASE_PROMETHEUS_TOKEN": "t0p"})
>>> str(s.home), s.prometheus.verify
('/srv/mp', True)
>>> "t0p" in repr(s)
False
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from modelphase.exceptions import ConfigError

__all__ = ["PrometheusSettings", "Settings", "get_settings", "load_settings", "read_token_file"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class PrometheusSettings:
    """How to reach the Prometheus HTTP API. Secrets are left out of ``repr``."""

    url: str | None = None
    token: str | None = field(default=None, repr=False)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_cert: Path | None = None
    verify: bool = True
    timeout: float = 30.0


@dataclass(frozen=True)
class Settings:
    """Everything modelphase reads from its environment."""

    home: Path = Path(".modelphase")
    prometheus: PrometheusSettings = field(default_factory=PrometheusSettings)
    registry_url: str | None = field(default=None, repr=False)
    artifacts_url: str | None = None
    token: str | None = field(default=None, repr=False)

    @property
    def datasets_dir(self) -> Path:
        """Where dataset snapshots live."""
        return self.home / "datasets"

    @property
    def registry(self) -> str:
        """The registry database URL (SQLite in the home folder unless set)."""
        return self.registry_url or f"sqlite:///{(self.home / 'registry.db').resolve()}"

    @property
    def artifacts(self) -> str:
        """Where model artifacts live (a folder in the home unless set)."""
        return self.artifacts_url or str((self.home / "artifacts").resolve())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from ``env`` (``os.environ`` when omitted)."""
    env = os.environ if env is None else env
    home = Path(env.get("MODELPHASE_HOME") or ".modelphase")
    insecure = _flag(env, "MODELPHASE_PROMETHEUS_INSECURE")
    timeout_raw = env.get("MODELPHASE_PROMETHEUS_TIMEOUT", "30")
    try:
        timeout = float(timeout_raw)
    except ValueError:
        timeout = -1.0
    if not timeout > 0:
        raise ConfigError(
            f"MODELPHASE_PROMETHEUS_TIMEOUT: expected a positive number of seconds, "
            f"got {timeout_raw!r}. Fix: set it to e.g. 30"
        )
    ca = env.get("MODELPHASE_PROMETHEUS_CA_CERT")
    prom = PrometheusSettings(
        url=env.get("MODELPHASE_PROMETHEUS_URL") or None,
        token=env.get("MODELPHASE_PROMETHEUS_TOKEN") or None,
        username=env.get("MODELPHASE_PROMETHEUS_USERNAME") or None,
        password=env.get("MODELPHASE_PROMETHEUS_PASSWORD") or None,
        ca_cert=Path(ca) if ca else None,
        verify=not insecure,
        timeout=timeout,
    )
    return Settings(
        home=home,
        prometheus=prom,
        registry_url=env.get("MODELPHASE_REGISTRY_URL") or None,
        artifacts_url=env.get("MODELPHASE_ARTIFACTS_URL") or None,
        token=_token(env),
    )


def read_token_file(path: str | Path, what: str = "MODELPHASE_TOKEN_FILE") -> str:
    """The token in ``path``: its first line, stripped."""
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.read(4096).strip().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"{what}: expected a readable file holding a token, got {str(path)!r} "
            f"({getattr(exc, 'strerror', None) or exc}). Fix: point it at the file an admin "
            "gave you"
        ) from None
    if not first or not first[0].strip():
        raise ConfigError(
            f"{what}: expected a token on the first line of {str(path)!r}, got an empty "
            "file. Fix: write the token (mp_...) into it"
        )
    return first[0].strip()


def _token(env: Mapping[str, str]) -> str | None:
    path = env.get("MODELPHASE_TOKEN_FILE")
    if path:
        return read_token_file(path)
    return env.get("MODELPHASE_TOKEN") or None


@functools.cache
def get_settings() -> Settings:
    """The settings of this process, read from the environment on first use."""
    return load_settings()


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ConfigError(f"{name}: expected 1 or 0 (true/false), got {raw!r}")
