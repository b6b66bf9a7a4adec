"""The command line: ``tsnegrid [flags]``, ``python -m tsnegrid``, ``python generate.py``.

argv -> :class:`~tsnegrid.config.Config` -> :func:`tsnegrid.pipeline.run` -> the report.
Every flag's default and choices come from :class:`~tsnegrid.config.Config`; this module owns
the terminal (progress, notes, errors), the signals and the exit codes.

Exit codes: 0 done; 1 internal error (traceback with --verbose); 2 usage error; 3 input error;
4 output error; 130 interrupted.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from tsnegrid.config import Config
from tsnegrid.errors import TsnegridError
from tsnegrid.flags import build_parser, config_from_args, program_name

if TYPE_CHECKING:
    from tsnegrid.report.changes import Changes
    from tsnegrid.results import RunResult, StageTime

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
INTERRUPT_RETRY_SECONDS = 0.01


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
            f"is in {config.out / 'skipped.csv'} (and on the Data page)"
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
    from tsnegrid.report.changes import compare_with_baseline, no_baseline
    from tsnegrid.report.files import layout_csv, timings_json

    if config.baseline is None:  # no snapshot of this run to make: nothing to compare it with
        return no_baseline()
    current = snapshot(
        context["manifest"], context["quality_json"], timings_json(result), layout_csv(result)
    )
    changes = compare_with_baseline(config.baseline, current)
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
