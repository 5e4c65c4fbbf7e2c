"""The limits on what a caller controls, in one place: the CLI, the HTTP server and the
spec check all read them from here, so that the same horizon is refused everywhere.

DESIGN.md's sixth principle: every size, horizon, query and time a caller controls has
a limit. Each limit is chosen so that work at the limit fits a small machine (a few GB
of memory) and well-formed production use stays far below it. They apply at the edges
(the CLI, the server, a spec file); the library's functions take what they are given.

>>> check_at_most("--h", 48, MAX_H, "ask for fewer steps")
>>> try:
...     check_at_most("--h", 10**9, MAX_H, "ask for fewer steps")
... except LimitExceededError as exc:
...     print(exc)
--h: expected at most 100,000, got 1,000,000,000. Fix: ask for fewer steps
"""

from __future__ import annotations

from typing import Any

import yaml

from modelphase.exceptions import LimitExceededError

__all__ = [
    "MAX_BACKOFF_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_CANARY_BODY_BYTES",
    "MAX_CANARY_METRICS",
    "MAX_CANARY_SAMPLES",
    "MAX_CANARY_WINDOW_SECONDS",
    "MAX_CANDIDATES",
    "MAX_CONCURRENCY",
    "MAX_DATASET_POINTS",
    "MAX_FILES",
    "MAX_FORECAST_POINTS",
    "MAX_H",
    "MAX_INPUT_BYTES",
    "MAX_JOBS",
    "MAX_LEVELS",
    "MAX_POINTS",
    "MAX_QUERY_CHARS",
    "MAX_RANGE_POINTS",
    "MAX_RETRIES",
    "MAX_SERIES",
    "MAX_SERVICES",
    "MAX_SIMULATED_DAYS",
    "MAX_SPEC_BYTES",
    "MAX_TIMEOUT_SECONDS",
    "MAX_WINDOWS",
    "MAX_YAML_ALIASES",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
    "LimitedYamlLoader",
    "YamlLimitError",
    "check_at_most",
    "check_yaml_expanded",
]

# ---------------------------------------------------------------- forecasts (everywhere)
#: steps ahead one forecast may ask for (``--h``, a spec's ``horizon``, ``h`` over HTTP)
MAX_H = 100_000
#: interval levels one forecast may ask for (``--level``, a spec's ``levels``, HTTP)
MAX_LEVELS = 10
#: series x steps one ``modelphase forecast`` may compute and write
MAX_FORECAST_POINTS = 10_000_000

# ----------------------------------------------------------------------- HTTP requests
#: values (or points) in one HTTP request
MAX_POINTS = 100_000
#: series ids in one HTTP forecast request
MAX_SERIES = 1_000
#: bytes of one HTTP request body (the server's default; ``--max-body``)
MAX_BODY_BYTES = 2_000_000

# ------------------------------------------------------------------------- data in
#: bytes of one input file read whole (CSV, Parquet, exposition text, a NAB stream), and
#: of all the streams of one ``detect --nab-dir``: parsing takes about 8x this in memory
MAX_INPUT_BYTES = 512 * 1024 * 1024
#: files one ``detect --nab-dir`` may score
MAX_FILES = 10_000
#: points of one dataset or simulation once on its grid (gaps included), and rows of one
#: input file: e.g. 2,000 series x a week at one minute
MAX_DATASET_POINTS = 20_000_000
#: points per series of one Prometheus range query ((end - start) / step + 1)
MAX_RANGE_POINTS = 1_000_000
#: characters of one PromQL query
MAX_QUERY_CHARS = 20_000
#: Prometheus requests at once, retries per request, seconds per request, first backoff
MAX_CONCURRENCY = 32
MAX_RETRIES = 10
MAX_TIMEOUT_SECONDS = 600.0
MAX_BACKOFF_SECONDS = 60.0

# ------------------------------------------------------------- canary judgements
#: metrics one canary judgement weighs (an analysis file, an HTTP request)
MAX_CANARY_METRICS = 50
#: the longest window one canary judgement reads (``--since``, ``window`` over HTTP)
MAX_CANARY_WINDOW_SECONDS = 86_400
#: bytes of one canary judgement's HTTP body (inline samples included)
MAX_CANARY_BODY_BYTES = 1_000_000
#: samples one side of one metric may pool from Prometheus (series x points)
MAX_CANARY_SAMPLES = 1_000_000

# ------------------------------------------------------------------------ simulation
MAX_SERVICES = 1_000
MAX_SIMULATED_DAYS = 3_660.0

# ----------------------------------------------------------------- specs and training
#: bytes of a spec file
MAX_SPEC_BYTES = 1024 * 1024
#: aliases (``*name``) in a spec; its nodes once every alias is expanded; its nesting
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 32
#: candidates of one spec, backtest windows of one spec
MAX_CANDIDATES = 20
MAX_WINDOWS = 100
#: processes of one training run (``--n-jobs``)
MAX_JOBS = 64


def check_at_most(
    what: str, value: int | float, limit: int | float, fix: str, unit: str = ""
) -> None:
    """Raise :class:`LimitExceededError` when ``value`` is above ``limit``; ``unit``
    follows both numbers in the message (``" bytes"``)."""
    if value > limit:
        raise LimitExceededError(
            f"{what}: expected at most {_n(limit)}{unit}, got {_n(value)}{unit}. Fix: {fix}",
            what=what,
            limit=limit,
            value=value,
        )


def _n(x: int | float) -> str:
    """``3,660`` rather than ``3,660.0``; fractions and huge floats as they are."""
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e18:
        return f"{int(x):,}"
    return f"{x:,}"


# ------------------------------------------------ YAML that a caller writes (specs, SLOs)


class YamlLimitError(Exception):
    """A YAML document over one of the limits; the reader turns it into its own error."""


class LimitedYamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader, counting aliases and nesting while it composes the nodes,
    so that a hostile file fails before any Python object is built from it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.n_aliases = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.n_aliases += 1
            if self.n_aliases > MAX_YAML_ALIASES:
                raise YamlLimitError(f"more than {MAX_YAML_ALIASES} aliases (*name)")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise YamlLimitError(f"nesting deeper than {MAX_YAML_DEPTH} levels")
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self.depth -= 1


def load_limited_yaml(text: str) -> Any:
    """The one YAML document of ``text`` (None when empty) through
    :class:`LimitedYamlLoader` and :func:`check_yaml_expanded`; raises
    :class:`YamlLimitError` past a limit and ``yaml.YAMLError`` on bad YAML, which the
    reader turns into its own error."""
    loader = LimitedYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_yaml_expanded(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def check_yaml_expanded(root: yaml.Node) -> None:
    """Refuse a node graph that expands (every alias replaced by its anchor's node) to
    more than ``MAX_YAML_NODES`` nodes, or that contains itself (a recursive alias).

    Sizes are computed once per distinct node, so a bomb costs its file size here."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    # iterative post-order walk: deep nesting was refused while composing, but an
    # alias graph may still be long
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _yaml_children(node))
            if total > MAX_YAML_NODES:
                raise YamlLimitError(
                    f"more than {MAX_YAML_NODES:,} values once aliases are expanded"
                )
            sizes[key] = total
            continue
        if key in sizes:
            continue
        if key in visiting:
            raise YamlLimitError("a recursive alias (a value that contains itself)")
        visiting.add(key)
        stack.append((node, True))
        for child in _yaml_children(node):
            if id(child) in visiting:
                raise YamlLimitError("a recursive alias (a value that contains itself)")
            if id(child) not in sizes:
                stack.append((child, False))


def _yaml_children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
