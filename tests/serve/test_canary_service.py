"""The canary judgements' own limits, without a server: no more than ``concurrency`` at
once (503), whatever the caller sends."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import CollectorRegistry, Counter

from decide.canary_data import ANALYSIS
from modelphase.decide import parse_analysis
from modelphase.exceptions import ConfigError, OverloadedError
from modelphase.registry import Principal
from modelphase.serve.admission import Admission, Limits
from modelphase.serve.canary_service import CanaryConfig, CanaryService


async def _nobody(request: object) -> Principal:
    raise AssertionError("not called")


def service(concurrency: int) -> CanaryService:
    registry = CollectorRegistry()
    throttled = Counter("throttled", "", ["reason"], registry=registry)
    admission = Admission(Limits(), lambda: 0.0, throttled)
    return CanaryService(CanaryConfig(concurrency=concurrency), _nobody, admission, registry)


def test_judgements_past_the_concurrency_are_refused_until_one_ends() -> None:
    judge = service(concurrency=1)
    release = threading.Event()

    async def scenario() -> None:
        first = asyncio.ensure_future(judge.run(lambda: release.wait(60)))
        await asyncio.sleep(0)  # one turn of the loop: the first has taken its place
        assert judge.busy == 1
        with pytest.raises(OverloadedError) as refused:
            await judge.run(lambda: "second")
        assert refused.value.retry_after == 1
        assert "expected at most 1 canary judgements at once" in str(refused.value)
        release.set()
        assert await first is True
        assert await judge.run(lambda: "third") == "third"
        assert judge.busy == 0

    asyncio.run(scenario())


def test_analyses_need_a_prometheus_and_distinct_names() -> None:
    analysis = parse_analysis(ANALYSIS, "a.yaml")
    with pytest.raises(ConfigError, match="expected a Prometheus for the canary analyses"):
        CanaryConfig.of([analysis])
    with pytest.raises(ConfigError, match="expected each canary analysis name once"):
        CanaryConfig.of([analysis, analysis], prometheus=object())  # type: ignore[arg-type]
