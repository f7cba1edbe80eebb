"""The documents a batch reads, from files, folders and globs, each with the name its outputs are given.

A name is the document's path relative to the root it was found under: a folder's files (recursively) relative to
the folder, a glob's matches relative to the glob's leading folder (the part before its first wildcard), and a
file named on its own relative to the current folder when it is under it, else by its file name. Its outputs are
the name with each format's extension appended (``a/scan.pdf`` -> ``OUT/a/scan.pdf.json``).
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from edge_runtime.errors import OcrError

__all__ = ["DOCUMENT_SUFFIXES", "BatchInput", "InputError", "find_inputs"]

# What a folder or a glob contributes, by extension (case-insensitive): what `open_document` reads.
DOCUMENT_SUFFIXES = frozenset({".pdf", ".tif", ".tiff", ".jpg", ".jpeg", ".png", ".webp", ".bmp", ".mpo"})
_MAGIC = frozenset("*?[")


class InputError(OcrError):
    """The arguments name no document, a path that does not exist, or two documents whose outputs would collide:
    a usage error, found before anything is read."""

    reason = "INPUT_INVALID"


@dataclass(frozen=True)
class BatchInput:
    path: Path  # where the document is read from
    name: str  # POSIX relative path its outputs are named after; also its key in report.json


def find_inputs(arguments: Iterable[str], exclude: Path | None = None, cwd: Path | None = None) -> list[BatchInput]:
    """Every document the arguments name, in argument order (a folder's and a glob's sorted), each once.

    ``exclude`` (the output folder) is never searched, so a second run does not read the first one's outputs.
    Raises InputError for an argument that names nothing and for two documents given the same name.
    """
    cwd = Path(os.path.abspath(cwd or Path.cwd()))
    skip = exclude.resolve() if exclude is not None else None
    found: dict[Path, BatchInput] = {}
    names: dict[str, Path] = {}
    for argument in arguments:
        for path, name in _expand(argument, cwd, skip):
            real = path.resolve()
            if real in found:
                continue  # a folder and a file in it, or two globs over the same file: read once
            if name in names:
                raise InputError(
                    f"{names[name]} and {path} would both be written as {name}.*: give them from different "
                    "folders or name their folders instead",
                    "INPUT_NAME_CONFLICT",
                )
            names[name] = path
            found[real] = BatchInput(path, name)
    if not found:
        raise InputError("no documents found (PDF, TIFF, JPEG, PNG, WebP or BMP)", "INPUT_NOT_FOUND")
    return list(found.values())


def _expand(argument: str, cwd: Path, skip: Path | None) -> Iterator[tuple[Path, str]]:
    path = Path(argument)
    if path.is_dir():
        yield from _walk(path, skip)
    elif path.exists():
        yield path, _own_name(path, cwd)
    elif _MAGIC & set(argument):
        root = _glob_root(argument)
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            raise InputError(f"{argument} matches nothing", "INPUT_NOT_FOUND")
        for match in map(Path, matches):
            if match.is_dir():
                yield from ((p, _posix(p.relative_to(root))) for p, _ in _walk(match, skip))
            elif _is_document(match) and not _inside(match, skip):
                yield match, _posix(match.relative_to(root))
    else:
        raise InputError(f"{argument} does not exist", "INPUT_NOT_FOUND")


def _walk(folder: Path, skip: Path | None) -> Iterator[tuple[Path, str]]:
    """A folder's documents, recursively, sorted, without hidden files and folders (``.git``, editors' files)."""
    for top, dirs, files in os.walk(folder):
        here = Path(top)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(here / d, skip))
        for file in sorted(files):
            path = here / file
            if not file.startswith(".") and _is_document(path):
                yield path, _posix(path.relative_to(folder))


def _glob_root(pattern: str) -> Path:
    """The folder before a pattern's first wildcard: what its matches are named relative to."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if _MAGIC & set(part):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path(".")


def _own_name(path: Path, cwd: Path) -> str:
    absolute = Path(os.path.abspath(path))  # not resolved: a link in the current folder keeps its own name
    if absolute.is_relative_to(cwd):
        return _posix(absolute.relative_to(cwd))
    return path.name


def _is_document(path: Path) -> bool:
    return path.suffix.lower() in DOCUMENT_SUFFIXES


def _inside(path: Path, folder: Path | None) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder)


def _posix(path: Path) -> str:
    return str(PurePosixPath(*path.parts))
