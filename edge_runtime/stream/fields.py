"""Key fields of a stream's events: the stream's field sets (``edge_runtime.fields``) applied to the tracked line
an event is about, so a camera can report a container code or a total as a named, normalised value.

A stream asks by the same names as ``RecognizeOptions.fields``: ``receipt``/``invoice`` and the sets of the
deployment's fields file. ``form`` is refused: its key -> value pairs need a page's lines, and an event carries
one line. The rules see that one line (its text, confidence and box), so a label must stand on it ("TOTAL 12.50")
or the field must be found by its shape (patterns, check digits). The receipt set's ``company`` and ``address``
are a page's header lines, so on one line they would name any text: events leave them out. A track's fused text
repeats over its events (APPEARED, STABLE, DISAPPEARED), so fields are computed once per distinct text (a cache).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from edge_runtime.errors import ConfigurationError
from edge_runtime.fields import Field, FieldSet, check_sets, extract
from edge_runtime.stream.types import TrackEvent
from edge_runtime.types import Point

__all__ = ["EventFields", "check_stream_sets"]

_PAGE_ONLY = ("form",)  # sets that give pairs of a page, not fields of a line
_CACHED = 256  # distinct texts whose fields are kept
_PAGE_FIELDS = {("receipt", "company"), ("receipt", "address")}  # (field_set, name) found by place on a page


def check_stream_sets(names: Iterable[str], user: Mapping[str, FieldSet] | None = None) -> tuple[str, ...]:
    """The stream's set names, or ConfigurationError: ``FIELD_SET_UNKNOWN`` (not built in, not in the fields
    file) or ``FIELD_SET_UNSUPPORTED`` (``form``: pairs need a page)."""
    names = check_sets(names, user)
    page_only = [n for n in names if n in _PAGE_ONLY]
    if page_only:
        raise ConfigurationError(
            f"field set(s) {', '.join(page_only)} give key-value pairs of a page; a stream's events carry the fields "
            "of one line (receipt, invoice or a set of the fields file)",
            "FIELD_SET_UNSUPPORTED",
        )
    return names


@dataclass(frozen=True)
class _Line:
    """The event's line as the rules read it, at confidence 1: a text's fields are computed once, and each event
    scales their confidence by its own."""

    text: str
    polygon: tuple[Point, ...]
    confidence: float = 1.0


class EventFields:
    """Adds the asked sets' fields to events; one per stream session (its cache is not shared)."""

    def __init__(self, names: Iterable[str], user: Mapping[str, FieldSet] | None = None) -> None:
        self.names = check_stream_sets(names, user)
        self._user = dict(user or {})
        self._cache: OrderedDict[str, tuple[Field, ...]] = OrderedDict()

    def __call__(self, events: tuple[TrackEvent, ...]) -> tuple[TrackEvent, ...]:
        if not self.names:
            return events
        return tuple(replace(e, fields=self._fields(e)) for e in events)

    def _fields(self, event: TrackEvent) -> tuple[Field, ...]:
        found = self._cache.get(event.text)
        if found is None:
            line = _Line(event.text, event.polygon or ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)))
            read = extract([line], self.names, self._user).fields if event.text.strip() else ()
            found = tuple(f for f in read if (f.field_set, f.name) not in _PAGE_FIELDS)
            self._cache[event.text] = found
            if len(self._cache) > _CACHED:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(event.text)
        if not found:
            return ()
        return tuple(replace(f, polygon=event.polygon, confidence=f.confidence * event.confidence) for f in found)
