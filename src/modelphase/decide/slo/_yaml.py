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
from modelphase.limits import MAX_SPEC_BYTES, LimitedYamlLoader, YamlLimitError, check_yaml_expanded

__all__ = ["load_documents"]


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
    loader = LimitedYamlLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            check_yaml_expanded(node)
            documents.append(loader.construct_document(node))
    except YamlLimitError as exc:
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
