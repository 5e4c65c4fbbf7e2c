"""The bodies of the registry's HTTP API (:mod:`modelphase.serve.registry_api`): what a
request may carry, validated with limits (the lengths are the database columns'), and
what an answer or a refusal says."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from modelphase.registry import ModelVersion, TokenInfo

#: the largest version number (the database column is a 32-bit integer)
MAX_VERSION = 2**31 - 1


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("expected text without NUL characters (PostgreSQL cannot store them)")
    return text


#: text stored as it is (not as JSON): PostgreSQL refuses NUL characters in it
Text = Annotated[str, AfterValidator(_no_nul)]

__all__ = [
    "MAX_VERSION",
    "Broken",
    "ErrorBody",
    "NewToken",
    "PromoteRequest",
    "RollbackRequest",
    "Stored",
    "TokenRequest",
    "VersionRequest",
    "Whoami",
]


class ErrorBody(BaseModel):
    """Every refusal: the exception's class, its message, and its data attributes."""

    error: str = Field(description="The exception class (AuthenticationError, ...)")
    detail: Any = Field(description="What was expected, what came, and how to fix it")
    data: dict[str, Any] = Field(default_factory=dict, description="The exception's data")


class Whoami(BaseModel):
    name: str
    role: str = Field(description="viewer, trainer, deployer or admin")
    token_id: str | None
    limits: dict[str, int] = Field(description="artifact_bytes, metadata_bytes")


class Stored(BaseModel):
    sha256: str
    size: int


class VersionRequest(BaseModel):
    """A version's metadata, naming an artifact already uploaded by its sha256."""

    model_config = ConfigDict(extra="forbid")

    artifact_digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    flavor: Text = Field("external", max_length=50)
    model_class: Text = Field("", max_length=200)
    params: dict[str, Any] = Field(default_factory=dict)
    spec: dict[str, Any] | None = None
    dataset_id: str | None = Field(None, max_length=64)
    metrics: dict[str, Any] = Field(default_factory=dict)
    gates: list[dict[str, Any]] = Field(default_factory=list, max_length=1000)
    owners: list[Annotated[str, Field(max_length=200)]] = Field(
        default_factory=list, max_length=100
    )
    canary_plan: dict[str, Any] | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    code_version: Text = Field("", max_length=100)
    git_commit: Text | None = Field(None, max_length=64)


class PromoteRequest(BaseModel):
    """Leave ``expect`` out to move the alias whatever it holds; ``null`` means it must
    be unset; a number, that it must hold that version (compare-and-set)."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, le=MAX_VERSION)
    expect: int | None = Field(None, ge=1, le=MAX_VERSION)
    reason: Text = Field("", max_length=10_000)
    force: bool = False


class RollbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Text = Field("", max_length=10_000)


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=200)
    role: Literal["viewer", "trainer", "deployer", "admin"]


class NewToken(BaseModel):
    token: TokenInfo
    secret: str = Field(description="Shown once; only its sha256 is stored")


class Broken(BaseModel):
    version: ModelVersion
    problem: str
