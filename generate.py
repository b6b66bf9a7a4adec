"""Run the tsnegrid pipeline and write the report: ``python generate.py --help``.

A thin shim over :func:`tsnegrid.cli.main`, the same entry point as the ``tsnegrid`` command
and ``python -m tsnegrid``, kept at the top level of the project, as its design names it.
"""

from tsnegrid.cli import run_main

if __name__ == "__main__":
    run_main()
