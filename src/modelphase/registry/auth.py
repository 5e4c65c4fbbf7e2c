"""Tokens and roles: who may read, register, deploy and administer.

Roles are ordered ``viewer < trainer < deployer < admin``: a viewer reads, a trainer
also registers versions, a deployer also moves aliases, an admin also manages tokens
and may force a promotion past failed gates. A token is ``mp_`` and 43 random URL-safe
characters; only its sha256 is stored (a random 256-bit secret needs no slow hash).

>>> Role.parse("deployer") >= Role.TRAINER
True
>>> secret = new_secret()
>>> secret.startswith("mp_") and hash_token(secret) != secret
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import IntEnum

from modelphase.exceptions import AuthenticationError, PermissionDeniedError, ValidationError

__all__ = ["LOCAL_ADMIN", "Principal", "Role", "hash_token", "new_secret", "require"]

_PREFIX = "mp_"


class Role(IntEnum):
    VIEWER = 1
    TRAINER = 2
    DEPLOYER = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(r.label for r in cls)
            raise ValidationError(f"expected a role among {names}, got {text!r}") from None


@dataclass(frozen=True)
class Principal:
    """Who acts: a token's name and role, or the local admin of an embedded registry."""

    name: str
    role: Role
    token_id: str | None = None


#: The principal of embedded, single-user use (a local SQLite registry, no token).
LOCAL_ADMIN = Principal("local-admin", Role.ADMIN)


def new_secret() -> str:
    return _PREFIX + secrets.token_urlsafe(32)


def hash_token(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def check_format(secret: str) -> None:
    if not secret.startswith(_PREFIX) or len(secret) < 20:
        raise AuthenticationError(
            "the token is not a modelphase token (they start with mp_). Fix: create one "
            "with `modelphase tokens create`"
        )


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a, b)


def require(principal: Principal, needed: Role, action: str) -> None:
    """Raise :class:`PermissionDeniedError` unless ``principal`` has ``needed``."""
    if principal.role < needed:
        raise PermissionDeniedError(
            f"{action} needs the {needed.label} role; {principal.name} is "
            f"{principal.role.label}. Fix: use a token with that role (an admin creates "
            "one with `modelphase tokens create --role ...`)",
            needed=needed.label,
            actual=principal.role.label,
        )
