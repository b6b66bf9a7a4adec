"""``python -m tsnegrid``: the same command as ``tsnegrid`` and ``python generate.py``."""

from tsnegrid.cli import run_main

if __name__ == "__main__":
    run_main()
