"""A previous report, read as data only: from its folder or from the site it was published to.

:func:`read_baseline` reads the four files a comparison needs (``manifest.json``,
``quality.json``, ``timings.json``, ``layout.csv``) by their fixed names, directly under the folder
or URL given, and nothing else: no path named inside a file is ever followed. Every file is size
limited and every fetch has a timeout. Anything wrong (missing, unreachable, too big, not JSON,
another schema) raises :class:`BaselineError` with a one-line reason, which the caller shows as a
note; the strings read are returned as they are and must be escaped where they are shown.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The schema and version each JSON file must carry to be compared with this version's reports.
SCHEMAS = {
    "manifest.json": ("tsnegrid.manifest", 1),
    "quality.json": ("tsnegrid.quality", 1),
    "timings.json": ("tsnegrid.timings", 1),
}
LAYOUT_COLUMNS = ("name", "row", "col")
MAX_JSON_BYTES = 4 * 2**20  # a manifest of 70,000 images' report is ~10 kB
MAX_LAYOUT_BYTES = 256 * 2**20  # layout.csv: ~70 bytes a row, ~70 MB at 1,000,000 images
MAX_LAYOUT_ROWS = 2_000_000
TIMEOUT_S = 10.0  # seconds per network read; a whole file gets three times that
CHUNK_BYTES = 2**16
TEXT_LIMIT = 120  # characters kept of any string shown from a baseline


class BaselineError(Exception):
    """The baseline cannot be compared with; the message says why, in one line."""


@dataclass(frozen=True)
class Placement:
    """Where one image sat: its name (as the report wrote it) and its grid cell."""

    name: str
    row: int
    col: int


@dataclass(frozen=True)
class Snapshot:
    """The comparable parts of one report (the baseline's or the current run's).

    ``quality`` and ``timings`` are ``None`` when the baseline lacks them (or has another
    schema); ``layout`` has one placement per image, in the file's order.
    """

    source: str
    manifest: dict[str, Any]
    quality: dict[str, Any] | None
    timings: dict[str, Any] | None
    layout: tuple[Placement, ...]
    notes: tuple[str, ...] = ()


def read_baseline(location: str, *, timeout: float = TIMEOUT_S) -> Snapshot:
    """Read the report at ``location``: a folder, or an ``http(s)://`` URL of a published site.

    Raises
    ------
    BaselineError
        When the manifest or the layout cannot be read, is too big or has another schema.
        A missing or unusable ``quality.json`` / ``timings.json`` only adds a note.
    """
    fetch = _url_reader(location, timeout) if _is_url(location) else _folder_reader(location)
    manifest = _json(fetch, "manifest.json")
    layout = parse_layout(fetch("layout.csv", MAX_LAYOUT_BYTES))
    notes: list[str] = []
    optional: dict[str, dict[str, Any] | None] = {}
    for name in ("quality.json", "timings.json"):
        try:
            optional[name] = _json(fetch, name)
        except BaselineError as exc:
            optional[name] = None
            notes.append(f"{exc}; not compared")
    return Snapshot(
        location, manifest, optional["quality.json"], optional["timings.json"], layout, tuple(notes)
    )


def snapshot(
    manifest: dict[str, Any], quality: dict[str, Any], timings: dict[str, Any], layout_csv: str
) -> Snapshot:
    """The current run as a :class:`Snapshot`, from what the report writes (the manifest,
    ``quality.json`` and ``timings.json`` as dicts, ``layout.csv`` as text)."""
    return Snapshot("this run", manifest, quality, timings, parse_layout(layout_csv.encode()))


def parse_layout(data: bytes) -> tuple[Placement, ...]:
    """The placements of a ``layout.csv`` (columns ``name``, ``row``, ``col``; others ignored)."""
    try:
        reader = csv.DictReader(io.StringIO(data.decode("utf-8")))
        if not set(LAYOUT_COLUMNS) <= set(reader.fieldnames or ()):
            raise BaselineError("layout.csv lacks the name, row and col columns")
        placements = []
        for i, row in enumerate(reader):
            if i >= MAX_LAYOUT_ROWS:
                raise BaselineError(f"layout.csv has more than {MAX_LAYOUT_ROWS:,} rows")
            placements.append(Placement(str(row["name"]), int(row["row"]), int(row["col"])))
    except (UnicodeDecodeError, csv.Error, ValueError, TypeError) as exc:
        raise BaselineError(f"layout.csv is not a tsnegrid layout ({type(exc).__name__})") from exc
    if any(p.row < 0 or p.col < 0 or p.row > 100_000 or p.col > 100_000 for p in placements):
        raise BaselineError("layout.csv has a cell outside any grid")
    return tuple(placements)


def _json(fetch: Any, name: str) -> dict[str, Any]:
    try:
        data = json.loads(fetch(name, MAX_JSON_BYTES).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BaselineError(f"{name} is not JSON") from exc
    schema, version = SCHEMAS[name]
    if not isinstance(data, dict) or data.get("schema") != schema:
        raise BaselineError(f"{name} is not a {schema} file")
    if data.get("schema_version") != version:
        found = str(data.get("schema_version"))[:20]
        raise BaselineError(f"{name} has schema version {found}, this version reads {version}")
    return data


def _is_url(location: str) -> bool:
    return urllib.parse.urlsplit(location).scheme.lower() in ("http", "https")


def _folder_reader(location: str) -> Any:
    folder = Path(location)
    if not folder.is_dir():
        raise BaselineError(f"{location} is not a folder or an http(s) URL")

    def fetch(name: str, limit: int) -> bytes:
        path = folder / name
        # a link out of the folder (or to a device) is refused: only its own regular files
        if path.is_symlink() or not path.is_file():
            raise BaselineError(f"{name} is missing from the baseline")
        with path.open("rb") as f:
            return _limited(f.read(limit + 1), name, limit)

    return fetch


def _url_reader(location: str, timeout: float) -> Any:
    base = location if location.endswith("/") else location + "/"

    def fetch(name: str, limit: int) -> bytes:
        url = urllib.parse.urljoin(base, name)
        request = urllib.request.Request(url, headers={"User-Agent": "tsnegrid"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _limited(_read_by(response, limit + 1, 3 * timeout, name), name, limit)
        except urllib.error.HTTPError as exc:
            raise BaselineError(f"{name}: HTTP {exc.code} from the baseline site") from exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise BaselineError(f"the baseline site is unreachable ({reason})") from exc

    return fetch


def _read_by(response: Any, most: int, seconds: float, name: str) -> bytes:
    """At most ``most`` bytes, in chunks, within ``seconds`` in all (a server that drips a
    byte at a time stays under any per-read timeout)."""
    deadline = time.monotonic() + seconds
    chunks: list[bytes] = []
    size = 0
    while size < most:
        chunk = response.read1(min(CHUNK_BYTES, most - size))  # what has come, no waiting
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if time.monotonic() > deadline:
            raise BaselineError(f"{name} took longer than {seconds:g} s to download")
    return b"".join(chunks)


def _limited(data: bytes, name: str, limit: int) -> bytes:
    if len(data) > limit:
        raise BaselineError(f"{name} is larger than {limit // 2**20} MiB")
    return data


# -- values read from a baseline's JSON, checked before use ------------------------------------


def dig(value: Any, path: Sequence[str | int]) -> Any:
    """The value at ``path`` (keys and list indices) in parsed JSON, or None where absent."""
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def number(value: object) -> float | None:
    """A finite JSON number as float, else None (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def integer(value: object) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_mapping(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def json_text(value: object) -> str:
    return one_line(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def one_line(value: object, limit: int = TEXT_LIMIT) -> str:
    """``value`` as one line of at most ``limit`` characters (still to be escaped for display)."""
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
