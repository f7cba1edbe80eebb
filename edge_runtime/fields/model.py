"""What extraction gives: named key fields and form key -> value pairs, free of any transport."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_runtime.types import Point

__all__ = ["Field", "Span", "KeyValue", "Extraction"]


@dataclass(frozen=True)
class Field:
    """A named value: ``value`` normalised (ISO date, decimal amount, currency code), ``text`` as printed."""

    name: str
    value: str
    text: str
    confidence: float
    polygon: tuple[Point, ...] = ()
    field_set: str = ""  # the set that found it: "receipt", or a user set's name


@dataclass(frozen=True)
class Span:
    text: str
    polygon: tuple[Point, ...] = ()


@dataclass(frozen=True)
class KeyValue:
    """A printed label and the value that belongs to it."""

    key: Span
    value: Span
    confidence: float


@dataclass(frozen=True)
class Extraction:
    fields: tuple[Field, ...] = ()
    key_values: tuple[KeyValue, ...] = field(default=())

    def __bool__(self) -> bool:
        return bool(self.fields or self.key_values)
