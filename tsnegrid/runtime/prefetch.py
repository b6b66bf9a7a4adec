"""A software prefetch for numba kernels that read rows of a large array in a random order.

A kernel that walks the grid's cells and reads each cell's image's feature row waits on memory
at nearly every row: the rows lie in the images' order, not the cells', so the hardware cannot
guess the next one. Asking for the row a few cells ahead (:data:`prefetch`) lets those reads
overlap; the same for the edges of the rows an auction round is about to bid for
(:data:`prefetch_at`). It changes no value, only when the memory arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: bytes in a cache line, and float64 values in one
LINE_BYTES = 64
LINE_FLOATS = LINE_BYTES // 8


def _codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
    """LLVM's prefetch of the address of ``arr[index...]`` (``args``: the array, then its
    indices), for reading, kept in every cache level."""
    aty = signature.args[0]
    ary = context.make_array(aty)(context, builder, args[0])
    ptr = cgutils.get_item_pointer(context, builder, aty, ary, list(args[1:]), wraparound=False)
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [cgutils.voidptr_t, i32, i32, i32])
    fn = builder.module.declare_intrinsic("llvm.prefetch", [cgutils.voidptr_t], fnty)
    # read (0), keep in every cache level (locality 3), data cache (1)
    rw, locality, data = (ir.Constant(i32, k) for k in (0, 3, 1))
    builder.call(fn, [builder.bitcast(ptr, cgutils.voidptr_t), rw, locality, data])
    return context.get_dummy_value()


@intrinsic
def _prefetch(typingctx, arr, row, col):  # type: ignore[no-untyped-def]
    """Ask for the cache line holding ``arr[row, col]`` (a 2-D array) to be read in; nothing
    happens if the address is not mapped. Call it only with indices in range."""
    return types.void(arr, row, col), _codegen


@intrinsic
def _prefetch_at(typingctx, arr, index):  # type: ignore[no-untyped-def]
    """The same for ``arr[index]`` of a 1-D array."""
    return types.void(arr, index), _codegen


#: ``prefetch(arr, row, col)`` inside a numba kernel (the intrinsic as its callers see it).
prefetch = cast(Callable[[Any, Any, Any], None], _prefetch)
#: ``prefetch_at(arr, index)``: the same for a 1-D array.
prefetch_at = cast(Callable[[Any, Any], None], _prefetch_at)
