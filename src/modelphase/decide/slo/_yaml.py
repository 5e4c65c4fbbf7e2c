"""YAML read within limits, one document or a stream of them.

The same limits as model specs (:mod:`modelphase.limits`): at most ``MAX_SPEC_BYTES``,
``MAX_YAML_DEPTH`` levels of nesting, ``MAX_YAML_ALIASES`` aliases and ``MAX_YAML_NODES``
values once aliases are expanded, checked while the nodes are composed, so an alias
bomb is refused before any Python object is built from it.
"""

from __future__ import annotations

from typing import Any

import yaml

from modelphase.decide.slo._errors import Problem, raise_problems
from modelphase.limits import MAX_SPEC_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, MAX_YAML_NODES

__all__ = ["load_documents"]


class _RefusedError(Exception):
    """A document over one of the limits."""


class _LimitedLoader(yaml.SafeLoader):
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.n_aliases = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.n_aliases += 1
            if self.n_aliases > MAX_YAML_ALIASES:
                raise _RefusedError(f"more than {MAX_YAML_ALIASES} aliases (*name)")
        self.depth += 1
        try:
            if self.depth > MAX_YAML_DEPTH:
                raise _RefusedError(f"nesting deeper than {MAX_YAML_DEPTH} levels")
            node: yaml.Node | None = super().compose_node(parent, index)
            return node
        finally:
            self.depth -= 1


def load_documents(text: str, source: str) -> list[Any]:
    """Every document of the YAML stream ``text`` (empty documents left out)."""
    size = len(text.encode("utf-8"))
    if size > MAX_SPEC_BYTES:
        raise_problems(
            source,
            [
                Problem(
                    "(file)",
                    f"at most {MAX_SPEC_BYTES:,} bytes",
                    f"{size:,}",
                    "split the SLOs over several files",
                )
            ],
        )
    loader = _LimitedLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_expanded(node)
            documents.append(loader.construct_document(node))
    except _RefusedError as exc:
        raise_problems(
            source,
            [
                Problem(
                    "(file)",
                    "YAML within the limits",
                    str(exc),
                    "write the values out instead of chaining aliases or nesting deeply",
                )
            ],
        )
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f"line {where.line + 1}" if where is not None else "(file)"
        what = str(getattr(exc, "problem", None) or exc).replace("\n", " ")
        raise_problems(source, [Problem(line, "valid YAML", what, "correct the YAML there")])
    finally:
        loader.dispose()
    return [d for d in documents if d is not None]


def _check_expanded(root: yaml.Node) -> None:
    """Refuse a node graph over ``MAX_YAML_NODES`` nodes with aliases expanded, or one
    that contains itself; sizes are computed once per distinct node."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            visiting.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            if total > MAX_YAML_NODES:
                raise _RefusedError(f"more than {MAX_YAML_NODES:,} values once aliases expand")
            sizes[key] = total
            continue
        if key in sizes:
            continue
        visiting.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in visiting:
                raise _RefusedError("a recursive alias (a value that contains itself)")
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
