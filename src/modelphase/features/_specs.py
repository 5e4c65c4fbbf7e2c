"""Feature specs: small frozen dataclasses that are plain JSON both ways.

A spec says *what* a feature is; :mod:`modelphase.features._core` says how it is
computed. Lags and windows count grid steps of the series (the panel's ``step``), never
wall-clock time, so a feature means the same thing at training and at serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from modelphase.exceptions import ValidationError

__all__ = [
    "DayOfWeek",
    "Feature",
    "HourOfDay",
    "Lag",
    "MinuteOfHour",
    "RollingMax",
    "RollingMean",
    "RollingMin",
    "RollingStd",
    "feature_from_dict",
]


def _positive_int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"expected {what} to be a positive integer (grid steps), got {value!r}",
            hint=f"give {what} as a whole number of steps, 1 or more",
        )
    return value


@dataclass(frozen=True)
class Lag:
    """The value ``k`` steps before the row's time (``lag_k``); NaN where missing."""

    k: int
    kind: ClassVar[str] = "lag"

    def __post_init__(self) -> None:
        _positive_int(self.k, "a lag's k")

    @property
    def name(self) -> str:
        return f"lag_{self.k}"

    @property
    def lookback(self) -> int:
        return self.k

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "k": self.k}


@dataclass(frozen=True)
class _Rolling:
    """A statistic of the ``window`` values ending ``lag`` steps before the row.

    Only the non-missing values count; fewer than ``min_periods`` of them give NaN.
    ``min_periods`` defaults to half the window (at least 1; at least 2 for the std).
    """

    window: int
    lag: int = 1
    min_periods: int | None = None
    kind: ClassVar[str] = ""
    _floor: ClassVar[int] = 1

    def __post_init__(self) -> None:
        _positive_int(self.window, f"{self.kind}'s window")
        _positive_int(self.lag, f"{self.kind}'s lag")
        if self.min_periods is not None:
            _positive_int(self.min_periods, f"{self.kind}'s min_periods")
            if self.min_periods > self.window:
                raise ValidationError(
                    f"expected {self.kind}'s min_periods <= window ({self.window}), "
                    f"got {self.min_periods}",
                    hint="lower min_periods or widen the window",
                )

    @property
    def periods(self) -> int:
        """The effective ``min_periods``."""
        chosen = self.window // 2 if self.min_periods is None else self.min_periods
        return min(max(chosen, self._floor), max(self.window, self._floor))

    @property
    def name(self) -> str:
        base = f"{self.kind}_{self.window}"
        return base if self.lag == 1 else f"{base}_lag_{self.lag}"

    @property
    def lookback(self) -> int:
        return self.lag + self.window - 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "window": self.window,
            "lag": self.lag,
            "min_periods": self.min_periods,
        }


@dataclass(frozen=True)
class RollingMean(_Rolling):
    """Mean of the window (``rolling_mean_W``)."""

    kind: ClassVar[str] = "rolling_mean"


@dataclass(frozen=True)
class RollingStd(_Rolling):
    """Sample standard deviation (ddof=1) of the window (``rolling_std_W``)."""

    kind: ClassVar[str] = "rolling_std"
    _floor: ClassVar[int] = 2


@dataclass(frozen=True)
class RollingMin(_Rolling):
    """Minimum of the window (``rolling_min_W``)."""

    kind: ClassVar[str] = "rolling_min"


@dataclass(frozen=True)
class RollingMax(_Rolling):
    """Maximum of the window (``rolling_max_W``)."""

    kind: ClassVar[str] = "rolling_max"


@dataclass(frozen=True)
class _Calendar:
    """A calendar field of the row's own time, in UTC, as an integer-valued float."""

    kind: ClassVar[str] = ""

    @property
    def name(self) -> str:
        return self.kind

    @property
    def lookback(self) -> int:
        return 0

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class HourOfDay(_Calendar):
    """Hour of the day in UTC, 0..23."""

    kind: ClassVar[str] = "hour_of_day"


@dataclass(frozen=True)
class DayOfWeek(_Calendar):
    """Day of the week in UTC, 0 = Monday .. 6 = Sunday."""

    kind: ClassVar[str] = "day_of_week"


@dataclass(frozen=True)
class MinuteOfHour(_Calendar):
    """Minute of the hour, 0..59."""

    kind: ClassVar[str] = "minute_of_hour"


Feature: TypeAlias = (
    Lag | RollingMean | RollingStd | RollingMin | RollingMax | HourOfDay | DayOfWeek | MinuteOfHour
)

_ROLLING: dict[str, type[_Rolling]] = {
    cls.kind: cls for cls in (RollingMean, RollingStd, RollingMin, RollingMax)
}
_CALENDAR: dict[str, type[_Calendar]] = {
    cls.kind: cls for cls in (HourOfDay, DayOfWeek, MinuteOfHour)
}
KINDS: tuple[str, ...] = ("lag", *_ROLLING, *_CALENDAR)


def _check_keys(data: dict[str, Any], allowed: set[str], what: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise ValidationError(
            f"unknown key(s) {extra} in {what}; expected only {sorted(allowed)}",
            hint=f"remove or rename {extra}",
        )


def feature_from_dict(data: dict[str, Any]) -> Feature:
    """The feature a :meth:`to_dict` result describes."""
    if not isinstance(data, dict) or "kind" not in data:
        raise ValidationError(
            f"expected a feature as a mapping with a 'kind' (one of {list(KINDS)}), got {data!r}"
        )
    kind = data["kind"]
    if kind == "lag":
        _check_keys(data, {"kind", "k"}, "a lag")
        if "k" not in data:
            raise ValidationError("expected a lag to have 'k', got none")
        return Lag(data["k"])
    if kind in _ROLLING:
        _check_keys(data, {"kind", "window", "lag", "min_periods"}, f"a {kind}")
        if "window" not in data:
            raise ValidationError(f"expected a {kind} to have 'window', got none")
        cls = _ROLLING[kind]
        made = cls(data["window"], data.get("lag", 1), data.get("min_periods"))
        assert isinstance(made, RollingMean | RollingStd | RollingMin | RollingMax)
        return made
    if kind in _CALENDAR:
        _check_keys(data, {"kind"}, f"a {kind}")
        cal = _CALENDAR[kind]()
        assert isinstance(cal, HourOfDay | DayOfWeek | MinuteOfHour)
        return cal
    raise ValidationError(
        f"unknown feature kind {kind!r}; expected one of {list(KINDS)}",
        hint="use one of the listed kinds",
    )


def calendar_kinds() -> tuple[str, ...]:
    return tuple(_CALENDAR)


def calendar_from_kind(kind: str) -> Feature:
    return feature_from_dict({"kind": kind})


def rolling_from_kind(kind: str, window: int) -> Feature:
    return feature_from_dict({"kind": kind, "window": window})


def rolling_kinds() -> tuple[str, ...]:
    return tuple(_ROLLING)
