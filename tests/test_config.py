from pathlib import Path

import pytest

from tsnegrid.config import Config, parse_grid
from tsnegrid.errors import UsageError


def test_defaults_are_the_notebooks():
    cfg = Config()
    assert (cfg.dataset, cfg.seed, cfg.pca, cfg.solver) == ("digits", 777, 100, "auto")
    assert cfg.out == Path("docs")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dataset": "cifar"}, "dataset 'cifar' is not known: choose one of digits"),
        ({"solver": "hungarian"}, "solver 'hungarian' is not known"),
        ({"size": 0}, "size 0: must be at least 1"),
        ({"perplexity": -1.0}, "perplexity -1: must be a positive"),
        ({"tsne_iter": 10}, "tsne_iter 10: must be at least 250"),
        ({"grid": (0, 4)}, "rows and cols must be at least 1"),
        ({"grid": (4, 4), "size": 4}, "--size and --grid both given"),
        ({"all_images": True, "n_images": 5}, "--all conflicts"),
        ({"seed": -3}, "seed -3"),
    ],
)
def test_invalid_values_name_the_field_and_the_fix(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        Config(**kwargs)


def test_parse_grid_accepts_rows_x_cols():
    assert parse_grid("40x60") == (40, 60)
    assert parse_grid(" 3 X 5 ") == (3, 5)
    with pytest.raises(UsageError, match="expected ROWSxCOLS"):
        parse_grid("40by60")


def test_digest_is_stable_and_ignores_the_output_folder():
    a = Config(seed=1, out=Path("a"))
    assert a.digest() == Config(seed=1, out=Path("b")).digest()
    assert a.digest() != Config(seed=2).digest()
    assert len(a.digest()) == 12


def test_to_json_is_plain_values():
    data = Config(images=Path("x/y"), grid=(2, 3)).to_json()
    assert data["images"] == "x/y"
    assert data["grid"] == [2, 3]


def test_public_names_resolve_lazily():
    import subprocess
    import sys

    import tsnegrid

    for name in tsnegrid.__all__:
        assert getattr(tsnegrid, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = tsnegrid.nope
    light = subprocess.run(
        [sys.executable, "-c", "import sys, tsnegrid.config; print('numba' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert light.stdout.strip() == "False"
