"""The command line's flags: every one maps onto a :class:`~tsnegrid.config.Config` field, and
takes its default and choices from it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tsnegrid.config import (
    Config,
    DatasetName,
    NeighbourMethod,
    SolverName,
    TsneEngine,
    choices,
    default,
    parse_grid,
)
from tsnegrid.errors import UsageParser


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
    _layout_flags(p.add_argument_group("the final map"))
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


def _layout_flags(g: argparse._ArgumentGroup) -> None:
    g.add_argument(
        "--polish",
        action=argparse.BooleanOptionalAction,
        default=default("polish"),
        help="polish the assigned layout for distance preservation (DPQ16) before drawing the "
        "final map; --no-polish keeps the notebook's t-SNE + exact assignment (default: polish)",
    )
    g.add_argument(
        "--mask",
        type=Path,
        metavar="IMAGE",
        help="an image whose dark parts are the cells images may take: the map's shape "
        "(a circle, a logo)",
    )
    g.add_argument(
        "--neighbours",
        choices=choices(NeighbourMethod),
        default=default("neighbours"),
        help="nearest-neighbour search: exact, approx (HNSW, from hnswlib) or auto (approx from "
        "100,000 images on); default: %(default)s",
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
        "--dask",
        metavar="ADDRESS",
        help="encode the map's tiles, and decode and thumbnail an --images folder, as Dask tasks "
        "on the scheduler at ADDRESS (tcp://host:8786; the folder must be at the same path on "
        "every worker), or on a cluster of this machine's cores with 'local' (needs: pip "
        "install 'tsnegrid[dask]')",
    )
    _cache_flags(g)
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


def _cache_flags(g: argparse._ArgumentGroup) -> None:
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
