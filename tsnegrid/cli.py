"""The command line: ``tsnegrid [flags]``, ``python -m tsnegrid``, ``python generate.py``.

argv -> :class:`~tsnegrid.config.Config` -> :func:`tsnegrid.pipeline.run` -> the report.
Every flag's default and choices come from :class:`~tsnegrid.config.Config`; this module owns
the terminal (progress, notes, errors), the signals and the exit codes.

Exit codes: 0 done; 1 internal error (traceback with --verbose); 2 usage error; 3 input error;
4 output error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tsnegrid.config import (
    Config,
    DatasetName,
    SolverName,
    TsneEngine,
    choices,
    default,
    parse_grid,
)
from tsnegrid.errors import TsnegridError, UsageParser

if TYPE_CHECKING:
    from tsnegrid.report.changes import Changes
    from tsnegrid.results import RunResult, StageTime

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
INTERRUPT_RETRY_SECONDS = 0.01


def program_name() -> str:
    """How the user started us, for help, messages and the reproduce command."""
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    if script == "generate.py":
        return "python generate.py"
    if script == "__main__.py":
        return "python -m tsnegrid"
    return "tsnegrid"


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line; every flag maps onto a :class:`~tsnegrid.config.Config` field."""
    p = UsageParser(
        prog=prog or program_name(),
        description="Lay images out on a grid by similarity (PCA, t-SNE, exact linear "
        "assignment) and write the report as Markdown pages for MkDocs. "
        "`tsnegrid new DIR` starts a report project for your own images.",
    )
    _source_flags(p.add_argument_group("what to lay out"))
    _size_flags(p.add_argument_group("how many images, on which grid"))
    _algorithm_flags(p.add_argument_group("algorithm"))
    _output_flags(p.add_argument_group("output"))
    return p


def _source_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--dataset",
        choices=choices(DatasetName),
        default=default("dataset"),
        help="built-in dataset (default: %(default)s, which works offline)",
    )
    g.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="a folder of images instead (first-level subfolders are classes)",
    )
    g.add_argument(
        "--features",
        type=Path,
        metavar="FILE",
        help="precomputed features (.npy rows in image order, or .csv with a name "
        "column) to use instead of the pixels",
    )
    g.add_argument(
        "--data-dir",
        type=Path,
        default=default("data_dir"),
        metavar="DIR",
        help="where datasets are looked for and cached (default: %(default)s)",
    )
    g.add_argument(
        "--thumb-px",
        type=int,
        default=default("thumb_px"),
        metavar="PX",
        help="thumbnail side for --images (default: %(default)s)",
    )
    g.add_argument(
        "--strict-input",
        action="store_true",
        help="fail on an unreadable image instead of skipping it",
    )


def _size_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--size",
        type=int,
        metavar="S",
        help="an S x S grid with S*S images sampled (the notebook's way)",
    )
    g.add_argument(
        "--grid",
        type=parse_grid,
        metavar="ROWSxCOLS",
        help="any rectangle, e.g. 40x60; cells may stay empty",
    )
    g.add_argument(
        "--n",
        type=int,
        dest="n_images",
        metavar="N",
        help="number of images to sample (default: all, at most 2,500)",
    )
    g.add_argument(
        "--all", action="store_true", dest="all_images", help="use every image of the dataset"
    )


def _algorithm_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--seed",
        type=int,
        default=default("seed"),
        help="the seed of every random step (default: %(default)s)",
    )
    g.add_argument(
        "--pca",
        type=int,
        default=default("pca"),
        metavar="N",
        help="PCA dimensions (default: %(default)s)",
    )
    _tsne_flags(g)
    g.add_argument(
        "--threads",
        type=int,
        default=default("threads"),
        help="threads for every stage (default: %(default)s); the result is the same "
        "for any count; t-SNE takes fewer when other processes keep CPUs busy",
    )
    g.add_argument(
        "--solver",
        choices=choices(SolverName),
        default=default("solver"),
        help="assignment solver: auto (ours, exact and fast), scipy, lapjv (default: %(default)s)",
    )


def _tsne_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--perplexity",
        type=float,
        default=default("perplexity"),
        help="t-SNE perplexity (default: %(default)s)",
    )
    g.add_argument(
        "--tsne-iter",
        type=int,
        metavar="N",
        help="t-SNE iterations, at least 250 (default: tsnegrid and opentsne 750, "
        "sklearn 1000; 500 is a fast preset)",
    )
    g.add_argument(
        "--tsne",
        choices=choices(TsneEngine),
        default=default("tsne"),
        help="t-SNE engine: tsnegrid (ours, the fastest), opentsne (FFT above "
        "10,000 images) or sklearn (the notebook's); default: %(default)s",
    )


def _output_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--out",
        type=Path,
        default=default("out"),
        metavar="DIR",
        help="report folder (default: %(default)s, which mkdocs.yml builds)",
    )
    g.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="a folder of page templates (*.md.j2) that replace the shipped ones "
        "of the same name, as MkDocs's custom_dir",
    )
    g.add_argument(
        "--baseline",
        metavar="DIR_OR_URL",
        help="an earlier report (its folder, or its published site's URL) to compare this one "
        "with on a Changes page; one that cannot be read is a note, not an error",
    )
    g.add_argument(
        "--cache-dir",
        type=Path,
        default=default("cache_dir"),
        metavar="DIR",
        help="where stage results are cached (default: %(default)s)",
    )
    g.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    g.add_argument(
        "--force", action="store_true", help="recompute every stage (and refresh the cache)"
    )
    g.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks of internal errors"
    )


#: Flags that are not settings of the run.
_NOT_CONFIG = frozenset({"no_cache", "verbose"})


def config_from_args(args: argparse.Namespace) -> Config:
    """The :class:`Config` the parsed flags describe (flag ``dest`` names are its fields)."""
    values: dict[str, Any] = {k: v for k, v in vars(args).items() if k not in _NOT_CONFIG}
    if args.no_cache:
        values["cache_dir"] = None
    return Config(**values)


class _ProgressBar:
    """A one-line bar on stderr for long stages, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = False

    def update(self, name: str, fraction: float) -> None:
        filled = int(fraction * 30)
        bar = "#" * filled + "-" * (30 - filled)
        say(f"\rtsnegrid: {name:<11} [{bar}] {fraction:4.0%}", end="")
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            say("\r\033[K", end="")
            self.shown = False


def say(text: str, *, end: str = "\n") -> None:
    """One message on stderr, flushed (stdout stays free for data)."""
    print(text, end=end, file=sys.stderr, flush=True)


def _stage_line(timing: StageTime) -> str:
    status = timing.status
    if timing.status == "loaded" and timing.computed_seconds is not None:
        status += f" from cache (computing it took {timing.computed_seconds:.2f} s)"
    return f"tsnegrid: {timing.name:<11} {timing.seconds:8.2f} s  {status}"


def generate(argv: list[str]) -> int:
    """Parse ``argv``, run the pipeline, write the report; return the exit code."""
    prog = program_name()
    config = config_from_args(build_parser(prog).parse_args(argv))
    # Imported here so that --help and usage errors answer at once.
    from tsnegrid.pipeline import run
    from tsnegrid.report import check_output, report_context, write_docs

    check_output(config.out)
    terminal = _Terminal()
    result = run(
        config, on_stage=terminal.stage_done, on_progress=terminal.progress, on_note=terminal.note
    )
    context = report_context(result, command=[*prog.split(), *argv], where=Path.cwd())
    changes = _compare(config, result, context, terminal.note)
    context = {**context, "changes": changes.summary}
    files = write_docs(result, context, config.out, templates=config.templates, changes=changes)
    if result.images.skipped:
        n = len(result.images.skipped)
        say(
            f"tsnegrid: warning: {n:,} unreadable file{'s' if n > 1 else ''} skipped; the list "
            f"is on the Data page ({config.out / 'data.md'})"
        )
    say(_done_line(len(files), config, result))
    return 0


class _Terminal:
    """Stage lines, notes and (on a terminal) a progress bar, on stderr."""

    def __init__(self) -> None:
        self.bar = _ProgressBar() if sys.stderr.isatty() else None
        self.progress = None if self.bar is None else self.bar.update

    def stage_done(self, timing: StageTime) -> None:
        if self.bar is not None:
            self.bar.clear()
        say(_stage_line(timing))

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.clear()
        say(f"tsnegrid: note: {text}")


def _compare(
    config: Config, result: RunResult, context: dict[str, Any], note: Callable[[str], None]
) -> Changes:
    """The Changes page's data against ``--baseline`` (never fails: problems become notes)."""
    from tsnegrid.report.baseline import snapshot
    from tsnegrid.report.changes import compare_with_baseline
    from tsnegrid.report.files import layout_csv, timings_json

    current = snapshot(
        context["manifest"], context["quality_json"], timings_json(result), layout_csv(result)
    )
    changes = compare_with_baseline(config.baseline, current)
    if config.baseline is not None:
        for text in changes.summary["notes"]:
            note(text)
    return changes


def _done_line(n_files: int, config: Config, result: RunResult) -> str:
    a = result.assignment
    proven = " (proven optimal)" if a.optimal else ""
    serve = "; now run: mkdocs serve" if config.out == Path("docs") else ""
    return (
        f"tsnegrid: wrote {n_files} files to {config.out}/: {result.plan.n_images:,} images "
        f"on {a.rows}x{a.cols}, cost {a.cost:.6g}{proven}{serve}"
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """Ctrl-C and SIGTERM unwind as KeyboardInterrupt, so the report folder is cleaned up on the
    way out; but not inside a Python callback of numba's. A compiled kernel calls back into Python
    to box its result, and an exception raised there is reported as a chain of SystemErrors, or
    worse. So the handler then tries again every 10 ms until Python is back in other code."""
    # A callback from compiled code: numba's frame, called straight from ours (no Python frame
    # of numba's in between, unlike numba compiling, which may be interrupted).
    if _is_numbas(frame) and frame is not None and not _is_numbas(frame.f_back):
        signal.signal(signal.SIGALRM, _interrupt)
        signal.setitimer(signal.ITIMER_REAL, INTERRUPT_RETRY_SECONDS)
        return
    raise KeyboardInterrupt


def _is_numbas(frame: FrameType | None) -> bool:
    name = frame.f_globals.get("__name__", "") if frame is not None else ""
    return bool(name) and name.split(".")[0] in ("numba", "llvmlite")


def main(argv: list[str] | None = None) -> int:
    """The CLI entry point: one clear line for every error a user can fix."""
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if argv[:1] == ["new"]:
            from tsnegrid.scaffold import new_project

            return new_project(argv[1:], prog=program_name())
        return generate(argv)
    except TsnegridError as exc:
        say(f"tsnegrid: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        return _interrupted()
    except Exception as exc:
        if _caused_by_interrupt(exc):
            return _interrupted()
        if "-v" in argv or "--verbose" in argv:
            traceback.print_exc()
        say(
            f"tsnegrid: internal error: {type(exc).__name__}: {exc} "
            "(run again with --verbose for the traceback, and please report it)"
        )
        return EXIT_INTERNAL


def _interrupted() -> int:
    say("tsnegrid: interrupted; the previous report is unchanged")
    return EXIT_INTERRUPTED


def _caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a KeyboardInterrupt is behind ``exc``: one raised in a Python callback of some
    compiled code that :func:`_interrupt` did not recognise comes back as a SystemError
    ("returned a result with an exception set") caused by it."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def leave(code: int) -> None:
    """Exit with ``code`` once stdout and stderr are flushed, skipping the interpreter's teardown:
    after numba has compiled, LLVM's takes ~0.2 s. Every file of the report is written and
    closed by now, and no thread is left running."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):  # a closed or broken pipe: the normal exit reports it
        sys.exit(code)
    os._exit(code)


def run_main() -> None:
    """The ``tsnegrid`` console script."""
    leave(main())
