"""The bodies of the canary endpoints (:mod:`modelphase.serve.decide_api`): a judgement
of inline samples or of one of the server's analyses (what Argo Rollouts' web metric
provider posts), Flagger's webhook payload, and the verdict they answer with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelphase.decide import ALPHA, DIRECTIONS, MARGINAL_THRESHOLD, PASS_THRESHOLD
from modelphase.limits import MAX_CANARY_METRICS, MAX_POINTS
from modelphase.serve.schemas import Finite

__all__ = [
    "AnalysisJudgeRequest",
    "FlaggerPayload",
    "InlineJudgeRequest",
    "JudgeResponse",
    "MetricBody",
]

MetricName = Annotated[str, Field(min_length=1, max_length=200)]
Values = Annotated[list[Finite | None], Field(max_length=MAX_POINTS)]
#: a template variable's value as sent; the analysis checks it (SAFE_VALUE)
VarValue = Annotated[str, Field(max_length=128)]
Vars = Annotated[dict[Annotated[str, Field(max_length=64)], VarValue], Field(max_length=32)]
Look = Annotated[
    int,
    Field(
        ge=1,
        le=1_000_000,
        description="The K-th look of a sequential analysis (the interval widens with K). "
        "Default: counted by the server for analyses, none for inline samples",
    ),
]
Threshold = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetricBody(_Strict):
    """How one metric of inline samples is judged (as an analysis file's metric)."""

    name: MetricName
    direction: Literal["increase", "decrease", "either"] = Field(
        "either", description=f"The bad direction: {', '.join(DIRECTIONS)}"
    )
    tolerance: float = Field(0.25, ge=0, le=1e6, allow_inf_nan=False)
    critical: bool = False
    weight: float = Field(1.0, gt=0, le=1e6, allow_inf_nan=False)
    min_points: int = Field(3, ge=1, le=MAX_POINTS)


class InlineJudgeRequest(_Strict):
    """Each metric's baseline and canary samples (null: a missing one), judged as
    ``modelphase canary judge`` judges files."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "metrics": [{"name": "latency_seconds", "direction": "increase"}],
                    "baseline": {"latency_seconds": [0.21, 0.22, 0.2, 0.23, 0.21]},
                    "canary": {"latency_seconds": [0.22, 0.21, None, 0.22]},
                }
            ]
        },
    )

    metrics: list[MetricBody] = Field(min_length=1, max_length=MAX_CANARY_METRICS)
    baseline: Annotated[dict[MetricName, Values], Field(max_length=MAX_CANARY_METRICS)]
    canary: Annotated[dict[MetricName, Values], Field(max_length=MAX_CANARY_METRICS)]
    alpha: float = Field(ALPHA, gt=0, lt=1, allow_inf_nan=False)
    look: Look | None = None
    pass_threshold: Threshold = PASS_THRESHOLD
    marginal_threshold: Threshold = MARGINAL_THRESHOLD

    @model_validator(mode="after")
    def _consistent(self) -> InlineJudgeRequest:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError("expected each metric once in 'metrics', got a name twice")
        for side, samples in (("baseline", self.baseline), ("canary", self.canary)):
            unknown = sorted(set(samples) - set(names))
            if unknown:
                raise ValueError(
                    f"expected {side} samples of the metrics named in 'metrics', got "
                    f"{', '.join(repr(n[:50]) for n in unknown[:5])}"
                )
        total = sum(len(v) for v in self.baseline.values()) + sum(
            len(v) for v in self.canary.values()
        )
        if total > MAX_POINTS:
            raise ValueError(f"expected at most {MAX_POINTS:,} samples in all, got {total:,}")
        if self.marginal_threshold > self.pass_threshold:
            raise ValueError("expected marginal_threshold <= pass_threshold")
        return self


class AnalysisJudgeRequest(_Strict):
    """One of the server's analyses (``modelphase serve --canary-analysis``) with each
    side's template variables, over the last ``window``: what an Argo Rollouts
    ``AnalysisTemplate`` posts as its ``jsonBody``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "analysis": "checkout",
                    "baseline": {"version": "v1"},
                    "canary": {"version": "v2"},
                    "window": "10m",
                }
            ]
        },
    )

    analysis: str = Field(min_length=1, max_length=63, description="The analysis's name")
    baseline: Vars = Field(default_factory=dict, description="The baseline's variables")
    canary: Vars = Field(default_factory=dict, description="The canary's variables")
    window: str | None = Field(
        None,
        max_length=32,
        description="The last DURATION (10m; at most 24h; default the analysis's window)",
    )
    look: Look | None = None


class FlaggerPayload(BaseModel):
    """What Flagger posts to a webhook. ``metadata`` (the webhook's, strings only) names
    the analysis (``analysis``), each side's variables (``baseline.version``,
    ``canary.version``; or ``baseline_version``), and optionally ``window`` and
    ``look``."""

    model_config = ConfigDict(
        extra="ignore",  # a newer Flagger may send more
        json_schema_extra={
            "examples": [
                {
                    "name": "checkout",
                    "namespace": "shop",
                    "phase": "Progressing",
                    "checksum": "7d9f8c6b5",
                    "metadata": {
                        "analysis": "checkout",
                        "baseline.workload": "checkout-primary",
                        "canary.workload": "checkout",
                        "window": "5m",
                    },
                }
            ]
        },
    )

    name: str = Field(min_length=1, max_length=253)
    namespace: str = Field(min_length=1, max_length=253)
    phase: str | None = Field(None, max_length=64)
    checksum: str | None = Field(None, max_length=256)
    metadata: Annotated[
        dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=1024)]],
        Field(max_length=64),
    ] = Field(default_factory=dict)


class MetricVerdictBody(BaseModel):
    """One metric's verdict and its evidence (``"inf"``/``"-inf"`` for an unbounded
    shift or interval end)."""

    metric: str
    verdict: Literal["pass", "fail", "inconclusive"]
    reason: str
    direction: str
    tolerance: float
    critical: bool
    weight: float
    canary_n: int
    baseline_n: int
    canary_median: float | None = None
    baseline_median: float | None = None
    shift: float | str | None = None
    shift_interval: list[float | str] | None = None
    relative_shift: float | str | None = None
    relative_interval: list[float | str] | None = None
    p_value: float | None = None
    confidence: float | None = None
    dropped_nan: int = 0


class WindowBody(BaseModel):
    start: str = Field(description="RFC 3339")
    end: str = Field(description="RFC 3339")
    step: str = Field(description="A Prometheus duration")


class JudgeResponse(BaseModel):
    """The release's verdict: Argo's ``jsonPath: "{$.verdict}"`` reads it."""

    verdict: Literal["pass", "marginal", "fail", "inconclusive"]
    passed: bool = Field(description="pass or marginal")
    score: float
    reason: str
    look: int | None = None
    metrics: list[MetricVerdictBody]
    analysis: str | None = Field(None, description="The analysis judged (None: inline)")
    window: WindowBody | None = None
    warnings: list[str] = Field(default_factory=list)
