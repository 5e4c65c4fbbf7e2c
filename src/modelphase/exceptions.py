"""The errors and warnings of modelphase.

Every error the package raises on purpose derives from :class:`ModelphaseError` and
from the builtin that matches it, so ``except ValueError`` keeps working for callers who
do not know this package. Errors carry their data as attributes (``unique_ids``,
``rows``, ``url``, ...) as well as in the message; a message says what was expected,
what came and how to fix it. Credentials never appear in a message.

::

    ModelphaseError
    ├── ConfigError(ValueError)                  bad setting or environment variable
    ├── ValidationError(ValueError)              telemetry that breaks the frame's rules
    │   ├── EmptyInputError                      no rows, or no series
    │   ├── MissingColumnsError                  a required column is absent
    │   ├── TimestampParseError                  a timestamp that cannot be read
    │   ├── MixedTimezoneError                   naive and aware, or several offsets
    │   ├── ValueParseError                      a value that is not a number
    │   ├── NonFiniteValueError                  NaN or +-Inf where a number is needed
    │   ├── DuplicateTimestampError              two samples at one time in a series
    │   ├── NonMonotonicTimestampError           timestamps going backwards
    │   ├── MixedStepError                       samples off the regular grid
    │   └── ArtifactFormatError                  an artifact that is not data-only format 2
    │       └── UnsafeArtifactError              a pickle, or a class outside the allow-list
    ├── SourceError(OSError)                     a source could not be read
    │   └── PrometheusError                      the Prometheus HTTP API failed
    │       ├── PrometheusConnectionError        refused, DNS, TLS
    │       ├── PrometheusTimeoutError           no answer in time, retries spent
    │       ├── PrometheusResponseError          not the API's JSON (HTML, a proxy page)
    │       ├── PrometheusQueryError             the API's own error JSON (bad PromQL...)
    │       └── UnexpectedResultTypeError        a result type other than matrix
    ├── NoSeriesError(LookupError)               a query or file matched no series
    ├── SeriesNotFoundError(LookupError)         a model asked about series it never saw
    ├── DatasetNotFoundError(LookupError)        no dataset with that id
    ├── AmbiguousDatasetIdError(LookupError)     a prefix that names several datasets
    ├── IntegrityError(ValueError)               stored content that fails its sha256
    ├── PayloadTooLargeError(ValueError)         a body over a server's size limit
    ├── SpecError(ValueError)                    a model spec that does not validate
    ├── SloSpecError(ValueError)                 an SLO file (Sloth, OpenSLO) or alert windows
    │                                            file that does not validate
    ├── CanaryAnalysisError(ValueError)          a canary analysis file, or the template
    │                                            variables bound to it, that do not validate
    ├── QueryTimeoutError(TimeoutError)          a decision-log query ran past its time limit
    ├── LimitExceededError(ValueError)           a size, horizon or count over its limit
    ├── OutputPathError(OSError)                 an output path that cannot be written
    ├── ThrottledError                           a caller over its token's limits (429)
    ├── OverloadedError                          server work that could not start (503)
    ├── RegistryError                            the model registry refused or failed
    │   ├── ModelNotFoundError(LookupError)      no model, version or alias by that name
    │   ├── AliasConflictError                   a stale --expect: someone moved the alias
    │   ├── GateFailedError                      promoting a version whose gates failed
    │   ├── StateConflictError                   another monitor wrote the state meanwhile
    │   ├── RegistryUnavailableError(ConnectionError)   the database cannot be reached
    │   │   ├── RegistryBusyError                another writer held its lock too long
    │   │   └── RegistryStorageError             its disk is full, read-only or damaged
    │   └── SchemaVersionError                   the database is newer than this code
    └── AccessError(PermissionError)             who you are, or what you may do
        ├── AuthenticationError                  an unknown or revoked token
        └── PermissionDeniedError                a role too low for the action

Warnings are named classes too::

    ModelphaseWarning(UserWarning)
    └── DamagedSegmentWarning                    unreadable decision-log segments were skipped

Prometheus's own ``warnings`` and ``infos`` are not exceptions: they come back with the
data (``RangeResult.warnings``) and are kept in the dataset's manifest.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessError",
    "AliasConflictError",
    "AmbiguousDatasetIdError",
    "ArtifactFormatError",
    "AuthenticationError",
    "CanaryAnalysisError",
    "ConfigError",
    "DamagedSegmentWarning",
    "DatasetNotFoundError",
    "DuplicateTimestampError",
    "EmptyInputError",
    "GateFailedError",
    "IntegrityError",
    "LimitExceededError",
    "MissingColumnsError",
    "MixedStepError",
    "MixedTimezoneError",
    "ModelNotFoundError",
    "ModelphaseError",
    "ModelphaseWarning",
    "NoSeriesError",
    "NonFiniteValueError",
    "NonMonotonicTimestampError",
    "OutputPathError",
    "OverloadedError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PrometheusConnectionError",
    "PrometheusError",
    "PrometheusQueryError",
    "PrometheusResponseError",
    "PrometheusTimeoutError",
    "QueryTimeoutError",
    "RegistryBusyError",
    "RegistryError",
    "RegistryStorageError",
    "RegistryUnavailableError",
    "SchemaVersionError",
    "SeriesNotFoundError",
    "SloSpecError",
    "SourceError",
    "SpecError",
    "StateConflictError",
    "ThrottledError",
    "TimestampParseError",
    "UnexpectedResultTypeError",
    "UnsafeArtifactError",
    "ValidationError",
    "ValueParseError",
]

#: How many offending series or rows a message names before it says "and N more".
MAX_LISTED = 5


class ModelphaseError(Exception):
    """The root of every error raised on purpose by modelphase."""


class ConfigError(ModelphaseError, ValueError):
    """A setting (environment variable or option) has a value that cannot be used."""


class ValidationError(ModelphaseError, ValueError):
    """Telemetry that breaks a rule of the long frame.

    ``unique_ids`` names the offending series and ``rows`` the offending rows (row
    numbers of the source file counted from 1 for the first data row, or positions in
    the series for sources without rows); both are complete, the message lists a few.
    """

    def __init__(
        self,
        message: str,
        *,
        unique_ids: Sequence[str] = (),
        rows: Sequence[int] = (),
        hint: str = "",
    ) -> None:
        self.unique_ids = list(unique_ids)
        self.rows = list(rows)
        self.hint = hint
        text = message
        if self.unique_ids:
            text += f"; series: {_listing(self.unique_ids)}"
        if self.rows:
            text += f"; rows: {_listing([str(r) for r in self.rows])}"
        if hint:
            text += f". Fix: {hint}"
        super().__init__(text)


class EmptyInputError(ValidationError):
    """The input has no rows, or no series after parsing."""


class MissingColumnsError(ValidationError):
    """A required column is absent; ``missing`` lists them, ``found`` what was there."""

    def __init__(self, message: str, *, missing: Sequence[str], found: Sequence[str]) -> None:
        self.missing = list(missing)
        self.found = list(found)
        super().__init__(message)


class TimestampParseError(ValidationError):
    """A timestamp could not be read as RFC 3339 or as a Unix time."""


class MixedTimezoneError(ValidationError):
    """Timestamps mix naive and zoned forms, or several UTC offsets."""


class ValueParseError(ValidationError):
    """A value could not be read as a number."""


class NonFiniteValueError(ValidationError):
    """A value is NaN or infinite where a finite number is needed."""


class DuplicateTimestampError(ValidationError):
    """A series has two samples at the same time (or on the same grid point)."""


class NonMonotonicTimestampError(ValidationError):
    """A series' timestamps go backwards in the source order."""


class MixedStepError(ValidationError):
    """Samples do not lie on one regular grid: steps differ, or offsets are off-grid."""


class ArtifactFormatError(ValidationError):
    """Model artifact bytes that are not a data-only modelphase artifact (format 2), or
    that break its layout or limits; refused before anything in them is used. ``kind``
    is what :func:`modelphase.forecast.artifact_kind` calls the bytes."""

    def __init__(self, message: str, *, kind: str = "", hint: str = "") -> None:
        self.kind = kind
        super().__init__(message, hint=hint)


class UnsafeArtifactError(ArtifactFormatError):
    """An artifact that could run code if it were loaded (a pickle, an object array)
    or that names a class outside the allow-list: never loaded."""


class SourceError(ModelphaseError, OSError):
    """A telemetry source could not be read."""


class PrometheusError(SourceError):
    """The Prometheus HTTP API could not answer the query.

    ``url`` is the endpoint without credentials.
    """

    def __init__(self, message: str, *, url: str = "", hint: str = "") -> None:
        self.url = url
        self.hint = hint
        super().__init__(f"{message}. Fix: {hint}" if hint else message)


class PrometheusConnectionError(PrometheusError):
    """The server refused the connection, or its name or TLS certificate failed."""


class PrometheusTimeoutError(PrometheusError):
    """The server did not answer in time, after every retry."""


class PrometheusResponseError(PrometheusError):
    """The server answered something that is not the Prometheus API's JSON."""

    def __init__(
        self, message: str, *, url: str = "", status_code: int = 0, hint: str = ""
    ) -> None:
        self.status_code = status_code
        super().__init__(message, url=url, hint=hint)


class PrometheusQueryError(PrometheusError):
    """The API answered with its error JSON (``errorType`` and ``error``)."""

    def __init__(
        self,
        message: str,
        *,
        url: str = "",
        error_type: str = "",
        status_code: int = 0,
        hint: str = "",
    ) -> None:
        self.error_type = error_type
        self.status_code = status_code
        super().__init__(message, url=url, hint=hint)


class UnexpectedResultTypeError(PrometheusError):
    """A range query whose result type is not ``matrix``."""

    def __init__(
        self, message: str, *, url: str = "", result_type: str = "", hint: str = ""
    ) -> None:
        self.result_type = result_type
        super().__init__(message, url=url, hint=hint)


class NoSeriesError(ModelphaseError, LookupError):
    """A query or a file matched no series."""


class SeriesNotFoundError(ModelphaseError, LookupError):
    """A model was asked about series it does not know; ``unique_ids`` names them."""

    def __init__(self, message: str, *, unique_ids: Sequence[str] = ()) -> None:
        self.unique_ids = list(unique_ids)
        super().__init__(message)


class DatasetNotFoundError(ModelphaseError, LookupError):
    """No dataset has that id (or id prefix)."""

    def __init__(self, message: str, *, dataset_id: str) -> None:
        self.dataset_id = dataset_id
        super().__init__(message)


class AmbiguousDatasetIdError(ModelphaseError, LookupError):
    """An id prefix matches several datasets; ``candidates`` lists them."""

    def __init__(self, message: str, *, dataset_id: str, candidates: Sequence[str]) -> None:
        self.dataset_id = dataset_id
        self.candidates = list(candidates)
        super().__init__(message)


class IntegrityError(ModelphaseError, ValueError):
    """Stored content whose sha256 is not the one recorded for it."""

    def __init__(self, message: str, *, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class PayloadTooLargeError(ModelphaseError, ValueError):
    """A request body (an artifact, metadata) over the size limit of the server that
    refused it; ``limit`` is that limit in bytes, ``size`` the body's (None: streamed)."""

    def __init__(self, message: str, *, limit: int, size: int | None = None) -> None:
        self.limit = limit
        self.size = size
        super().__init__(message)


class SpecError(ModelphaseError, ValueError):
    """A model spec with problems; ``errors`` lists each one with its field path."""

    def __init__(self, message: str, *, errors: Sequence[str] = ()) -> None:
        self.errors = list(errors) or [message]
        super().__init__(message)


class SloSpecError(ModelphaseError, ValueError):
    """An SLO file (Sloth ``prometheus/v1``, OpenSLO ``openslo/v1``) or an alert windows
    file with problems; ``errors`` lists each one with its field path (``slos.0.objective:
    expected ..., got ...``), ``source`` names the file."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), source: str = "") -> None:
        self.errors = list(errors) or [message]
        self.source = source
        super().__init__(message)


class CanaryAnalysisError(ModelphaseError, ValueError):
    """A canary analysis file with problems, or template variables that cannot be bound
    to it (missing, unknown, or a value outside the safe label-value set); ``errors``
    lists each problem with its field path, ``source`` names the file or the request."""

    def __init__(self, message: str, *, errors: Sequence[str] = (), source: str = "") -> None:
        self.errors = list(errors) or [message]
        self.source = source
        super().__init__(message)


class LimitExceededError(ModelphaseError, ValueError):
    """A size, horizon, count or time a caller controls is over its limit
    (:mod:`modelphase.limits`); ``what`` names it, ``limit`` and ``value`` say by how much."""

    def __init__(self, message: str, *, what: str, limit: float, value: float) -> None:
        self.what = what
        self.limit = limit
        self.value = value
        super().__init__(message)


class OutputPathError(ModelphaseError, OSError):
    """An output path that cannot be written as asked: its folder does not exist, or it
    names a folder where a file is expected (or a file where a folder is); ``path``."""

    def __init__(self, message: str, *, path: str) -> None:
        self.path = path
        super().__init__(message)


class ThrottledError(ModelphaseError):
    """A caller over one of its token's limits (``reason``: rate, concurrency, heavy);
    ``retry_after`` is how many seconds to wait (the server answers 429)."""

    def __init__(self, message: str, *, reason: str, retry_after: int) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(message)


class OverloadedError(ModelphaseError):
    """Work the server had no room to start: its ``pool`` was full or no thread came
    free in time (``reason``); ``retry_after`` in seconds (the server answers 503)."""

    def __init__(self, message: str, *, pool: str, reason: str, retry_after: int) -> None:
        self.pool = pool
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(message)


class QueryTimeoutError(ModelphaseError, TimeoutError):
    """A decision-log query ran past its time limit and was stopped; ``seconds`` is
    the limit."""

    def __init__(self, message: str, *, seconds: float) -> None:
        self.seconds = seconds
        super().__init__(message)


class RegistryError(ModelphaseError):
    """The model registry refused an action or could not do it."""


class ModelNotFoundError(RegistryError, LookupError):
    """No model, version or alias by that name; ``name`` and ``version`` say which."""

    def __init__(self, message: str, *, name: str, version: int | None = None) -> None:
        self.name = name
        self.version = version
        super().__init__(message)


class AliasConflictError(RegistryError):
    """The alias no longer points where the caller expected (compare-and-set failed)."""

    def __init__(
        self, message: str, *, alias: str, expected: int | None, actual: int | None
    ) -> None:
        self.alias = alias
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class GateFailedError(RegistryError):
    """Promotion of a version whose validation gates failed; ``gates`` lists them."""

    def __init__(self, message: str, *, gates: Sequence[str]) -> None:
        self.gates = list(gates)
        super().__init__(message)


class StateConflictError(RegistryError):
    """The monitor's state of a model was written by someone else since it was read."""


class RegistryUnavailableError(RegistryError, ConnectionError):
    """The registry database cannot be reached (the URL is given without password)."""


class RegistryBusyError(RegistryUnavailableError):
    """Another writer held the registry database's write lock past the busy timeout."""


class RegistryStorageError(RegistryUnavailableError):
    """The registry database cannot be read or written where it lives: its disk is full
    or read-only, an I/O error, or the file is damaged."""


class SchemaVersionError(RegistryError):
    """The database's schema is newer than this version of modelphase knows."""


class AccessError(ModelphaseError, PermissionError):
    """Who the caller is, or what they may do, does not allow the action."""


class AuthenticationError(AccessError):
    """The token is unknown, malformed or revoked (the token itself is never shown)."""


class PermissionDeniedError(AccessError):
    """The caller's role is below the one the action needs."""

    def __init__(self, message: str, *, needed: str, actual: str) -> None:
        self.needed = needed
        self.actual = actual
        super().__init__(message)


class ModelphaseWarning(UserWarning):
    """The root of every warning issued by modelphase."""


class DamagedSegmentWarning(ModelphaseWarning):
    """Decision-log segments that cannot be read were skipped; ``segments`` lists them,
    relative to the log's folder."""

    def __init__(self, message: str, *, segments: Sequence[str] = ()) -> None:
        self.segments = list(segments)
        super().__init__(message)


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown
