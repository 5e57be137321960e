"""A YAML loader that remembers where each mapping, key and list item was, for error messages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml


class LineDict(dict[Any, Any]):
    """A mapping that knows its line and the line of each key's value."""

    line: int = 0
    lines: dict[Any, int]


class LineList(list[Any]):
    """A list that knows its line and the line of each item."""

    line: int = 0
    lines: list[int]


class LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences carry 1-based line numbers."""


def _mapping(loader: LineLoader, node: yaml.MappingNode) -> Iterator[LineDict]:
    data = LineDict()
    data.line = node.start_mark.line + 1
    data.lines = {}
    yield data
    data.update(loader.construct_mapping(node))
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode):
            data.lines[loader.construct_object(key_node)] = value_node.start_mark.line + 1


def _sequence(loader: LineLoader, node: yaml.SequenceNode) -> Iterator[LineList]:
    data = LineList()
    data.line = node.start_mark.line + 1
    data.lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


LineLoader.add_constructor("tag:yaml.org,2002:map", _mapping)  # type: ignore[arg-type]
LineLoader.add_constructor("tag:yaml.org,2002:seq", _sequence)  # type: ignore[arg-type]


def line_of(container: Any, key: Any = None) -> int | None:
    """The line of `container[key]` (or of the container itself), when the loader recorded it."""
    if key is not None:
        if isinstance(container, LineDict) and key in container.lines:
            return container.lines[key]
        if isinstance(container, LineList) and isinstance(key, int) and key < len(container.lines):
            return container.lines[key]
    return getattr(container, "line", None) or None


def at_line(line: int | None, message: str) -> str:
    return f"line {line}: {message}" if line else message


class CatalogError(ValueError):
    """The catalogue file is unreadable or inconsistent; the message names the entry."""
