"""The canary judgements of the server (:mod:`modelphase.serve.decide_api` is their
HTTP): the analyses it may run and the Prometheus they read (:class:`CanaryConfig`),
the looks counted at each judgement, and the judgements themselves, on threads, at most
``concurrency`` at once.

Looks: Argo and Flagger ask again every interval, and each look at a fixed level would
raise the false-fail rate. The server counts the looks at each judgement (an analysis
with the same rendered queries, plus what the caller adds: for Flagger the Canary and
its checksum) for ``look_ttl`` seconds from the first, and widens the intervals with
them (:class:`~modelphase.decide.SequentialJudge`); an explicit ``look`` overrides the
count. The count is per server process.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from fastapi import HTTPException, Request
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from modelphase.decide import (
    CanaryAnalysis,
    CanarySamples,
    CanaryVerdict,
    MetricSpec,
    RangeQuerier,
    SequentialJudge,
    fetch_samples,
    judge_canary,
)
from modelphase.exceptions import ConfigError, OverloadedError
from modelphase.frame import format_duration, format_time
from modelphase.limits import MAX_CANARY_BODY_BYTES
from modelphase.registry import Principal
from modelphase.serve.admission import Admission
from modelphase.serve.canary_schemas import InlineJudgeRequest

__all__ = ["Authorize", "CanaryConfig", "CanaryService"]

_T = TypeVar("_T")
Authorize = Callable[[Request], Awaitable[Principal]]


@dataclass(frozen=True)
class CanaryConfig:
    """The server's canary analyses (by name) and the Prometheus client they read from;
    ``timeout``: seconds a judgement's queries may take in all; ``concurrency``:
    judgements at once; ``max_body``: bytes of a request; ``now`` (ns since the epoch)
    ends the windows and ``clock`` (monotonic s) times the queries and the looks."""

    analyses: Mapping[str, CanaryAnalysis] = field(default_factory=dict)
    prometheus: RangeQuerier | None = None
    timeout: float = 20.0
    concurrency: int = 4
    max_body: int = MAX_CANARY_BODY_BYTES
    now: Callable[[], int] = time.time_ns
    clock: Callable[[], float] = time.monotonic
    look_ttl: float = 86_400.0

    def __post_init__(self) -> None:
        if self.analyses and self.prometheus is None:
            raise ConfigError(
                "expected a Prometheus for the canary analyses, got none. Fix: pass "
                "--prometheus URL (or set MODELPHASE_PROMETHEUS_URL)"
            )

    @classmethod
    def of(cls, analyses: Sequence[CanaryAnalysis], **options: Any) -> CanaryConfig:
        """A config of ``analyses``, refusing two with one name."""
        by_name: dict[str, CanaryAnalysis] = {}
        for analysis in analyses:
            if analysis.name in by_name:
                raise ConfigError(
                    f"expected each canary analysis name once, got {analysis.name!r} in "
                    f"{by_name[analysis.name].source} and {analysis.source}. Fix: rename one"
                )
            by_name[analysis.name] = analysis
        return cls(analyses=by_name, **options)


class _Looks:
    """A :class:`SequentialJudge` per judgement key, kept ``ttl`` seconds from its first
    look (at most ``size`` of them, the least recently used dropped first)."""

    def __init__(self, clock: Callable[[], float], ttl: float, size: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._judges: OrderedDict[Hashable, tuple[float, SequentialJudge]] = OrderedDict()
        self._lock = threading.Lock()

    def judge(
        self, key: Hashable, analysis: CanaryAnalysis, samples: CanarySamples
    ) -> CanaryVerdict:
        now = self._clock()
        with self._lock:
            entry = self._judges.get(key)
            if entry is None or now - entry[0] > self._ttl:
                entry = (now, SequentialJudge(analysis.specs, **analysis.judge_options()))
                self._judges[key] = entry
            self._judges.move_to_end(key)
            while len(self._judges) > self._size:
                self._judges.popitem(last=False)
            return entry[1].judge(samples.canary, samples.baseline, silent_for=samples.silent_for)


class CanaryService:
    """What the canary endpoints share: the config, the server's auth and admission, the
    looks and the judgements in flight; it runs the judgements."""

    def __init__(
        self,
        config: CanaryConfig,
        authorize: Authorize,
        admission: Admission,
        registry: CollectorRegistry,
    ) -> None:
        self.config = config
        self.authorize = authorize
        self.admission = admission
        self.looks = _Looks(config.clock, config.look_ttl)
        self.busy = 0  # changed on the event loop only
        self.judged = PromCounter(
            "modelphase_canary_judgements",
            "Canary judgements answered, by analysis (inline: samples in the body) and verdict",
            ["analysis", "verdict"],
            registry=registry,
        )

    async def run(self, work: Callable[[], _T]) -> _T:
        """``work`` on a thread, or 503 when ``concurrency`` judgements already run."""
        if self.busy >= self.config.concurrency:
            raise OverloadedError(
                f"expected at most {self.config.concurrency} canary judgements at once, got "
                "another. Fix: retry after a second",
                pool="canary",
                reason="full",
                retry_after=1,
            )
        self.busy += 1
        try:
            return await asyncio.to_thread(work)
        finally:
            self.busy -= 1

    def analysis(self, name: str) -> CanaryAnalysis:
        found = self.config.analyses.get(name)
        if found is None:
            known = ", ".join(sorted(self.config.analyses)) or "none"
            raise HTTPException(
                404,
                f"expected one of this server's canary analyses ({known}), got "
                f"{name[:63]!r}. Fix: name one of them, or start the server with "
                "--canary-analysis FILE",
            )
        return found

    def judge_analysis(
        self,
        analysis: CanaryAnalysis,
        baseline: Mapping[str, str],
        canary: Mapping[str, str],
        window: int | None,
        look: int | None,
        *,
        key: tuple[Hashable, ...] = (),
        prefixes: tuple[str, str] = ("baseline.", "canary."),
    ) -> dict[str, Any]:
        """The verdict on ``analysis`` over the ``window`` ending now (blocking IO)."""
        assert self.config.prometheus is not None, "a config with analyses has a Prometheus"
        start, end = analysis.window_at(self.config.now(), window)
        samples = fetch_samples(
            self.config.prometheus,
            analysis,
            baseline,
            canary,
            start=start,
            end=end,
            deadline=self.config.clock() + self.config.timeout,
            clock=self.config.clock,
            prefixes=prefixes,
        )
        if look is not None:
            verdict = judge_canary(
                samples.canary,
                samples.baseline,
                analysis.specs,
                look=look,
                silent_for=samples.silent_for,
                **analysis.judge_options(),
            )
        else:
            queries = tuple(sorted(samples.queries.items()))
            verdict = self.looks.judge((analysis.name, queries, *key), analysis, samples)
        return self._answer(verdict, analysis.name, samples)

    def judge_inline(self, body: InlineJudgeRequest) -> dict[str, Any]:
        specs = [
            MetricSpec(
                m.name, m.direction, m.tolerance, m.critical, m.weight, min_points=m.min_points
            )
            for m in body.metrics
        ]
        verdict = judge_canary(
            {k: _array(v) for k, v in body.canary.items()},
            {k: _array(v) for k, v in body.baseline.items()},
            specs,
            alpha=body.alpha,
            look=body.look,
            pass_threshold=body.pass_threshold,
            marginal_threshold=body.marginal_threshold,
        )
        return self._answer(verdict, None, None)

    def _answer(
        self, verdict: CanaryVerdict, analysis: str | None, samples: CanarySamples | None
    ) -> dict[str, Any]:
        self.judged.labels(analysis or "inline", verdict.verdict).inc()
        out = verdict.to_dict()
        out["passed"] = verdict.verdict in ("pass", "marginal")
        out["analysis"] = analysis
        out["window"] = None
        out["warnings"] = []
        if samples is not None:
            out["window"] = {
                "start": format_time(samples.start),
                "end": format_time(samples.end),
                "step": format_duration(samples.step),
            }
            out["warnings"] = list(samples.warnings)
        return out


def _array(values: list[float | None]) -> np.ndarray[Any, np.dtype[np.float64]]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
