"""The HTTP API's bodies: what a request may carry (validated, with limits) and what an
answer says, including which model answered and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_ABS",
    "MAX_POINTS",
    "MAX_SERIES",
    "ErrorResponse",
    "ForecastRequest",
    "ForecastResponse",
    "ScoreRequest",
    "ScoreResponse",
]

#: at most this many values (or points) in one request
MAX_POINTS = 100_000
#: at most this many series ids in one forecast request
MAX_SERIES = 1_000

#: the largest magnitude a value may have: far beyond any telemetry in base units, and
#: small enough that a model's squares and sums of them stay finite
MAX_ABS = 1e100
#: times a request may name (UTC): the models' clock is int64 nanoseconds
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _bounded(value: float) -> float:
    if abs(value) > MAX_ABS:
        raise ValueError(f"expected a number of magnitude at most {MAX_ABS:g}, got {value:g}")
    return value


def _utc(value: datetime) -> datetime:
    """A time as UTC (one without a zone is taken as UTC), within the models' clock."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError(
            f"expected a time from {EARLIEST:%Y-%m-%d} to before {LATEST:%Y-%m-%d} (UTC), "
            f"got {value.isoformat()}"
        )
    return value.astimezone(UTC)


#: a number (JSON numbers only: no strings, booleans, NaN or infinities)
Finite = Annotated[
    float,
    Field(
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={"minimum": -MAX_ABS, "maximum": MAX_ABS},
    ),
    AfterValidator(_bounded),
]
Time = Annotated[
    datetime, AfterValidator(_utc), Field(description="RFC 3339; UTC when no zone is given")
]
Level = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]
SeriesId = Annotated[str, Field(min_length=1, max_length=2_000)]
Key = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        description="Routing key: requests with the same key go to the same version "
        "(production or canary). Default: the first series id, else a random split.",
    ),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ForecastRequest(_Strict):
    """Either ``series`` (ids the model was trained on: the forecast it made then) or
    ``values`` (recent values of one series, oldest first, one per model step, null
    for a missing one: the model refits on them and forecasts from their end)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"series": ['http_requests_total{job="api"}'], "h": 12, "level": [80]},
                {
                    "values": [0.21, 0.25, None, 0.31, 0.28, 0.22],
                    "end": "2026-03-01T12:00:00Z",
                    "h": 3,
                },
            ]
        },
    )

    h: int = Field(ge=1, le=100_000, description="Steps ahead (at most the model's horizon)")
    series: list[SeriesId] | None = Field(default=None, min_length=1, max_length=MAX_SERIES)
    values: list[Finite | None] | None = Field(default=None, min_length=1, max_length=MAX_POINTS)
    unique_id: SeriesId | None = Field(
        default=None, description="With values: the series they belong to (its model choice)"
    )
    end: Time | None = Field(
        default=None, description="With values: the time of the last one (default: now)"
    )
    level: list[Level] | None = Field(
        default=None, max_length=10, description="Interval levels (default: all trained ones)"
    )
    key: Key | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ForecastRequest:
        if (self.series is None) == (self.values is None):
            raise ValueError("send either 'series' (known series ids) or 'values' (recent values)")
        if self.values is not None and all(v is None for v in self.values):
            raise ValueError("'values' are all null: send at least one number")
        if self.series is None and self.unique_id is None:
            return self
        if self.series is not None and (self.unique_id is not None or self.end is not None):
            raise ValueError("'unique_id' and 'end' go with 'values', not with 'series'")
        return self


class Interval(BaseModel):
    lo: list[float | None]
    hi: list[float | None]


class SeriesForecastOut(BaseModel):
    unique_id: str
    ds: list[str]
    mean: list[float | None]
    intervals: dict[str, Interval]


Answerer = Literal["model", "fallback"]


class _Answer(BaseModel):
    request_id: str
    model: str
    version: int
    alias: Literal["production", "canary"]
    answered_by: Answerer = Field(description="The intended model, or the fallback")
    fallback_reason: Literal["error", "timeout", "circuit_open"] | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="Checks the request's values failed (the spec's target.expect, far "
        "outside the training range); the request is answered either way",
    )


class ForecastResponse(_Answer):
    forecasts: list[SeriesForecastOut]


class ScoreRequest(_Strict):
    """Points of one stream, oldest first: each is scored from the points before it, so
    send the history the verdict should rest on (the default detector warms up over
    200 points)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"values": [0.21, 0.25, None, 0.31, 4.2]},
                {
                    "values": [120.0, 118.5, 950.0],
                    "timestamps": [
                        "2026-03-01T12:00:00Z",
                        "2026-03-01T12:05:00Z",
                        "2026-03-01T12:10:00Z",
                    ],
                },
            ]
        },
    )

    values: list[Finite | None] = Field(min_length=1, max_length=MAX_POINTS)
    timestamps: list[Time] | None = Field(
        default=None,
        max_length=MAX_POINTS,
        description="One per value (the detectors that read the clock need them)",
    )
    key: Key | None = None

    @model_validator(mode="after")
    def _same_length(self) -> ScoreRequest:
        if self.timestamps is not None and len(self.timestamps) != len(self.values):
            raise ValueError(
                f"expected one timestamp per value, got {len(self.timestamps)} timestamps "
                f"for {len(self.values)} values"
            )
        return self


class Problem(BaseModel):
    """One reason a request was refused: where (``loc``, the path to the field) and why."""

    loc: list[str]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every refusal: a short name for it and what was expected (with the field paths
    when the body did not validate)."""

    error: str = Field(
        description="invalid_request, unauthenticated, forbidden, not_found, "
        "unknown_series, body_too_large, request_timeout, throttled, overloaded, "
        "model_unavailable, registry_unavailable, ..."
    )
    detail: str | list[Problem]


class ScoreResponse(_Answer):
    scores: list[float | None]
    anomalies: list[bool]
    threshold: float | None
    explanations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="One per run of flagged points (with timestamps; the latest 100): "
        "its first and last index, the expected value and range from the points before "
        "it, the deviation at its peak and the pattern that broke (level, spike, dip, "
        "variance, trend, seasonality, none)",
    )
