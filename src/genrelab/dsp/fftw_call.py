"""Calling FFTW from numba-compiled loops: :func:`call_fftw` runs an FFTW new-array execute function
(``fftwf_execute_dft_r2c`` / ``_c2r``) on a plan and two buffers given as addresses, the ones
:func:`genrelab.dsp.fft.raw_plans` hands out. Everything arrives as an integer at run time, so
nothing address-like is baked into the compiled code and numba can cache it on disk."""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["call_fftw"]


@intrinsic
def call_fftw(typingctx, fn, plan, src, dst):  # pragma: no cover - compiled
    """``fn(plan, src, dst)`` for the C function at address ``fn`` (four unsigned integers)."""
    sig = types.void(types.uintp, types.uintp, types.uintp, types.uintp)

    def codegen(context, builder, signature, args):
        word = ir.IntType(64)
        fnty = ir.FunctionType(ir.VoidType(), [word, word, word])
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), list(args[1:]))
        return context.get_dummy_value()

    return sig, codegen
