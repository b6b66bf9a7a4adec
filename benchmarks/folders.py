"""Image-folder throughput: the one-machine reader against Dask with 1 and 2 worker processes.

    python benchmarks/folders.py                                   # all openclipart PNGs
    python benchmarks/folders.py --folder /usr/share/openclipart/png/animals --repeats 3

The same folder read by :func:`tsnegrid.data.folder.read_image_folder` (one thread) and by
:func:`tsnegrid.data.distributed.read_image_folder_dask` on a ``LocalCluster`` of 1 and 2
single-threaded worker processes (started before the clock; their start is reported apart),
interleaved repeat by repeat; every Dask result is checked to be the same ImageSet. Reported:
median seconds, images per second, and CPU seconds (this process's plus the workers': the work
itself, steadier than the clock on a shared machine). Written to
``benchmarks/results/folders.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from tsnegrid.data.distributed import read_image_folder_dask
from tsnegrid.data.folder import read_image_folder

RESULTS = Path(__file__).resolve().parent / "results"
CLIPART = Path("/usr/share/openclipart/png")


def start_cluster(workers: int) -> tuple[Any, Any, float]:
    import distributed

    start = time.perf_counter()
    cluster = distributed.LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    return cluster, client, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, default=CLIPART)
    parser.add_argument("--thumb-px", type=int, default=32)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "folders.json")
    args = parser.parse_args()
    clusters = {w: start_cluster(w) for w in args.workers}
    seconds: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    n_images = 0
    for _ in range(args.repeats):
        start, mine = time.perf_counter(), time.process_time()
        want = read_image_folder(args.folder, thumb_px=args.thumb_px)
        seconds.setdefault("one machine", []).append(time.perf_counter() - start)
        cpu.setdefault("one machine", []).append(time.process_time() - mine)
        n_images = want.n_images + len(want.skipped)
        for workers, (_, client, _) in clusters.items():
            name = f"dask {workers} worker(s)"
            start, mine, theirs = (
                time.perf_counter(),
                time.process_time(),
                client.run(time.process_time),
            )
            got = read_image_folder_dask(args.folder, client, thumb_px=args.thumb_px)
            seconds.setdefault(name, []).append(time.perf_counter() - start)
            used = sum(client.run(time.process_time).values()) - sum(theirs.values())
            cpu.setdefault(name, []).append(used + time.process_time() - mine)
            same = np.array_equal(got.pixels, want.pixels) and got.names == want.names
            assert same and got.skipped == want.skipped, "Dask read a different ImageSet"
    rows: list[dict[str, Any]] = [
        {
            "reader": name,
            "files": n_images,
            "seconds": statistics.median(s),
            "files_per_s": n_images / statistics.median(s),
            "runs": s,
            "cpu_s": statistics.median(cpu[name]),
        }
        for name, s in seconds.items()
    ]
    for workers, (cluster, client, started) in clusters.items():
        print(f"LocalCluster of {workers} worker(s) started in {started:.1f} s")
        client.close()
        cluster.close()
    for row in rows:
        print(
            f"{row['reader']:<18} {row['files']:>6,} files  {row['seconds']:7.1f} s  "
            f"{row['files_per_s']:6.0f} files/s  {row['cpu_s']:6.1f} s CPU (runs: "
            f"{', '.join(f'{s:.1f}' for s in row['runs'])})"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    info = {
        "folder": str(args.folder),
        "thumb_px": args.thumb_px,
        "runs": rows,
        "cluster_start_s": {w: c[2] for w, c in clusters.items()},
    }
    args.out.write_text(json.dumps(info, indent=2) + "\n")


if __name__ == "__main__":
    main()
