import hashlib
import re

from tsnegrid.runtime import kernels


def test_every_run_names_files_that_define_cached_kernels():
    cached_kernel = re.compile(r"^@[\w.]*jit\([^)]*cache=True", re.M)
    for name in kernels.EVERY_RUN:
        assert cached_kernel.search((kernels.PACKAGE_ROOT / name).read_text()), name


def test_a_kernel_file_without_numbas_index_is_uncompiled(tmp_path, monkeypatch):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    source = tmp_path / "pkg" / "fast.py"
    source.parent.mkdir()
    source.write_text("@nb.njit(cache=True)\ndef f(): pass\n")
    assert kernels.uncompiled([source]) == [source]
    (source.parent / "__pycache__").mkdir()
    (source.parent / "__pycache__" / "fast.f-2.py311.nbi").write_bytes(b"")
    assert kernels.uncompiled([source]) == []


def test_numba_cache_dir_replaces_the_other_places(tmp_path, monkeypatch):
    source = tmp_path / "pkg" / "fast.py"
    (source.parent / "__pycache__").mkdir(parents=True)
    (source.parent / "__pycache__" / "fast.f-2.py311.nbi").write_bytes(b"")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    assert kernels.uncompiled([source]) == [source]
    folder = str(source.parent.resolve())
    sub = f"pkg_{hashlib.sha1(folder.encode()).hexdigest()}"  # numba's own naming
    (tmp_path / "cache" / sub).mkdir(parents=True)
    (tmp_path / "cache" / sub / "fast.f-2.py311.nbi").write_bytes(b"")
    assert kernels.uncompiled([source]) == []


def test_the_first_run_says_that_numba_is_compiling(monkeypatch):
    from tsnegrid import pipeline

    notes: list[str] = []
    monkeypatch.setattr(kernels, "uncompiled", lambda: ["something"])
    pipeline._warm_up(notes.append)
    assert notes == [pipeline.FIRST_RUN_NOTE]
    monkeypatch.setattr(kernels, "uncompiled", list)
    notes.clear()
    pipeline._warm_up(notes.append)
    assert notes == []
