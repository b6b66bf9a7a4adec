"""Run the tsnegrid pipeline and write the report: ``python generate.py --help``.

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
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from tsnegrid.config import DATASET_NAMES, SOLVER_NAMES, TSNE_NAMES, Config, parse_grid
from tsnegrid.errors import TsnegridError, UsageError

if TYPE_CHECKING:
    from tsnegrid.pipeline import StageTime

EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so every usage error gets one clear line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see python generate.py --help)")


def build_parser() -> argparse.ArgumentParser:
    """The command line; every flag maps onto a :class:`~tsnegrid.config.Config` field."""
    p = _Parser(
        prog="python generate.py",
        description="Lay images out on a grid by similarity (PCA, t-SNE, exact linear "
        "assignment) and write the report as Markdown pages for MkDocs.",
    )
    src = p.add_argument_group("what to lay out")
    src.add_argument(
        "--dataset",
        choices=DATASET_NAMES,
        default="digits",
        help="built-in dataset (default: digits, which works offline)",
    )
    src.add_argument(
        "--images",
        type=Path,
        metavar="DIR",
        help="a folder of images instead (first-level subfolders are classes)",
    )
    src.add_argument(
        "--features",
        type=Path,
        metavar="FILE",
        help="precomputed features (.npy rows in image order, or .csv with a name column) "
        "to use instead of the pixels",
    )
    src.add_argument(
        "--data-dir",
        type=Path,
        default=Path("data"),
        metavar="DIR",
        help="where datasets are looked for and cached (default: data)",
    )
    src.add_argument(
        "--thumb-px",
        type=int,
        default=32,
        metavar="PX",
        help="thumbnail side for --images (default: 32)",
    )
    src.add_argument(
        "--strict-input",
        action="store_true",
        help="fail on an unreadable image instead of skipping it",
    )
    size = p.add_argument_group("how many images, on which grid")
    size.add_argument(
        "--size",
        type=int,
        metavar="S",
        help="an S x S grid with S*S images sampled (the notebook's way)",
    )
    size.add_argument(
        "--grid",
        type=parse_grid,
        metavar="ROWSxCOLS",
        help="any rectangle, e.g. 40x60; cells may stay empty",
    )
    size.add_argument(
        "--n",
        type=int,
        dest="n_images",
        metavar="N",
        help="number of images to sample (default: all, at most 2,500)",
    )
    size.add_argument(
        "--all", action="store_true", dest="all_images", help="use every image of the dataset"
    )
    algo = p.add_argument_group("algorithm")
    algo.add_argument("--seed", type=int, default=777, help="the seed of every random step")
    algo.add_argument("--pca", type=int, default=100, metavar="N", help="PCA dimensions")
    algo.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    algo.add_argument(
        "--tsne-iter",
        type=int,
        metavar="N",
        help="t-SNE iterations, at least 250 (default: tsnegrid and opentsne 750, sklearn 1000; "
        "500 is a fast preset)",
    )
    algo.add_argument(
        "--tsne",
        choices=TSNE_NAMES,
        default="tsnegrid",
        help="t-SNE engine: tsnegrid (ours, the fastest), opentsne (FFT above 10,000 images) "
        "or sklearn (the notebook's)",
    )
    algo.add_argument(
        "--threads",
        type=int,
        default=2,
        help="threads for every stage: t-SNE, PCA, neighbours, quality, the map (default 2); the "
        "result is the same for any count; t-SNE takes fewer when other processes keep CPUs busy",
    )
    algo.add_argument(
        "--solver",
        choices=SOLVER_NAMES,
        default="auto",
        help="assignment solver: auto (ours, exact and fast), scipy, lapjv",
    )
    out = p.add_argument_group("output")
    out.add_argument(
        "--out",
        type=Path,
        default=Path("docs"),
        metavar="DIR",
        help="report folder (default: docs, which mkdocs.yml builds)",
    )
    out.add_argument(
        "--cache-dir",
        type=Path,
        default=Path(".cache"),
        metavar="DIR",
        help="where stage results are cached (default: .cache)",
    )
    out.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    out.add_argument(
        "--force", action="store_true", help="recompute every stage (and refresh the cache)"
    )
    out.add_argument(
        "-v", "--verbose", action="store_true", help="show tracebacks of internal errors"
    )
    return p


def config_from_args(args: argparse.Namespace) -> Config:
    """The :class:`Config` the parsed flags describe."""
    return Config(
        dataset=args.dataset, images=args.images, features=args.features, size=args.size,
        grid=args.grid,
        n_images=args.n_images, all_images=args.all_images, seed=args.seed, pca=args.pca,
        perplexity=args.perplexity, tsne_iter=args.tsne_iter, tsne=args.tsne,
        threads=args.threads, solver=args.solver,
        out=args.out, data_dir=args.data_dir, thumb_px=args.thumb_px,
        strict_input=args.strict_input, cache_dir=None if args.no_cache else args.cache_dir,
        force=args.force,
    )  # fmt: skip


class _ProgressBar:
    """A one-line bar on stderr for long stages, only when stderr is a terminal."""

    def __init__(self) -> None:
        self.shown = False

    def update(self, name: str, fraction: float) -> None:
        filled = int(fraction * 30)
        bar = "#" * filled + "-" * (30 - filled)
        print(f"\rtsnegrid: {name:<11} [{bar}] {fraction:4.0%}", end="", file=sys.stderr,
              flush=True)  # fmt: skip
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            print("\r\033[K", end="", file=sys.stderr, flush=True)
            self.shown = False


def _progress(timing: StageTime) -> None:
    status = timing.status
    if timing.status == "loaded" and timing.computed_seconds is not None:
        status += f" from cache (computing it took {timing.computed_seconds:.2f} s)"
    print(f"tsnegrid: {timing.name:<11} {timing.seconds:8.2f} s  {status}", file=sys.stderr,
          flush=True)  # fmt: skip


def generate(argv: list[str]) -> int:
    """Parse ``argv``, run the pipeline, write the report; return the exit code."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    # Imported here so that --help and usage errors answer at once.
    from tsnegrid.pipeline import run
    from tsnegrid.report.context import report_context
    from tsnegrid.report.pages import check_output, write_docs

    check_output(config.out)

    bar = _ProgressBar() if sys.stderr.isatty() else None

    def stage_done(timing: StageTime) -> None:
        if bar is not None:
            bar.clear()
        _progress(timing)

    def note(text: str) -> None:
        if bar is not None:
            bar.clear()
        print(f"tsnegrid: note: {text}", file=sys.stderr, flush=True)

    result = run(config, on_stage=stage_done, on_progress=bar.update if bar else None,
                 on_note=note)  # fmt: skip
    files = write_docs(result, report_context(result, argv=argv), config.out)
    a = result.assignment
    print(
        f"tsnegrid: wrote {len(files)} files to {config.out}/: {result.plan.n_images:,} images "
        f"on {a.rows}x{a.cols}, cost {a.cost:.6g}"
        f"{' (proven optimal)' if a.optimal else ''}"
        f"{'; now run: mkdocs serve' if config.out == Path('docs') else ''}",
        file=sys.stderr,
    )
    return 0


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


INTERRUPT_RETRY_SECONDS = 0.01


def _is_numbas(frame: FrameType | None) -> bool:
    name = frame.f_globals.get("__name__", "") if frame is not None else ""
    return bool(name) and name.split(".")[0] in ("numba", "llvmlite")


def main(argv: list[str] | None = None) -> int:
    """The CLI entry point: one clear line for every error a user can fix."""
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return generate(argv)
    except TsnegridError as exc:
        print(f"tsnegrid: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("tsnegrid: interrupted; the previous report is unchanged", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:
        if _caused_by_interrupt(exc):
            print("tsnegrid: interrupted; the previous report is unchanged", file=sys.stderr)
            return EXIT_INTERRUPTED
        if verbose:
            traceback.print_exc()
        print(f"tsnegrid: internal error: {type(exc).__name__}: {exc} "
              "(run again with --verbose for the traceback, and please report it)",
              file=sys.stderr)  # fmt: skip
        return EXIT_INTERNAL


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


if __name__ == "__main__":
    leave(main())
