"""fbgemm's packed int8 weights made 2-3x faster (pack_int8_rows.cpp), bit for bit the same.

Packing is most of a warm `--quantize int8` load: 1.8 of 2.5 s on the 2-core Xeon of
docs/benchmark.md, because fbgemm's packer slows down 3x on the talker's many-row matrices (the
source file says why). The native packer gives the same packed bytes from a differently laid-out
copy of the rows. It is compiled the first time an int8 load needs it (~8 s, once per torch
install; build.py) and checked against torch's own packer on every process's first use; where it
cannot be built (no C++ compiler, not Linux, a torch without fbgemm) or fails that check, torch's
packer runs as before.

`QWENTTS_NATIVE=0` turns it off.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable

import torch

from qwentts_cli.errors import QwenTTSWarning

ENV = "QWENTTS_NATIVE"
SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pack_int8_rows.cpp")

Packer = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], object]

_lock = threading.Lock()
_packer: Packer | None = None
_tried = False


def enabled() -> bool:
    """Whether this process may use the native packer: not turned off, and a torch whose int8 linears are fbgemm's."""
    return (os.environ.get(ENV, "1") != "0" and sys.platform.startswith("linux")
            and "fbgemm" in torch.backends.quantized.supported_engines)


def load() -> Packer | None:
    """The native packer, built first if needed; None where it cannot be had.

    Tells the user once, with a warning, when a build fails, or when the library built does not
    load or disagrees with torch's packer (each is remembered: build.py), and returns None.
    """
    global _packer, _tried
    with _lock:
        if _tried or not enabled():
            return _packer
        _tried = True
        from qwentts_cli.native.build import BuildFailed, built_library, reject

        library = ("pack_int8_rows", [SOURCE], ["USE_FBGEMM"])
        try:
            torch.ops.load_library(built_library(*library))
        except BuildFailed as e:
            if e.recorded:
                warnings.warn(QwenTTSWarning(
                    f"could not build qwentts's int8 weight packer ({e}); int8 models load with torch's packer, "
                    f"about 1 s slower at 0.6B. Installing a C++ compiler (g++) fixes it: delete {e.recorded} "
                    f"to try again, or set {ENV}=0 to stop using native code"), stacklevel=2)
            return None
        except (OSError, RuntimeError) as e:  # a library that does not load into this torch
            _give_up(reject(*library, f"it does not load: {e}"), f"does not load ({str(e).splitlines()[0]})")
            return None
        packer = torch.ops.qwentts.pack_int8_rows
        try:
            agrees = _agrees_with_torch(packer)
        except RuntimeError:
            agrees = False
        if not agrees:
            _give_up(reject(*library, "its packed weights differ from torch's"), "disagrees with torch's on this machine")
            return None
        _packer = packer
        return _packer


def _give_up(record: str | None, what: str) -> None:
    where = f" (recorded in {record}: delete it to try again)" if record else ""
    warnings.warn(QwenTTSWarning(f"qwentts's int8 weight packer {what}; int8 models load with torch's packer{where}"),
                  stacklevel=3)


def loaded() -> Packer | None:
    """The native packer if `load()` made it available in this process (never builds)."""
    return _packer


def torch_pack(q: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None):
    """torch's packer on the same arguments: the reference, and the path where the native one is missing."""
    zero = torch.zeros(q.shape[0], dtype=torch.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notice for quantized tensors; the op stays
        qweight = torch._make_per_channel_quantized_tensor(q, scale.double(), zero, 0)
        return torch.ops.quantized.linear_prepack(qweight, bias)


def _agrees_with_torch(packer: Packer) -> bool:
    """One many-row matrix packed both ways: the same int8 rows back, and the same products."""
    generator = torch.Generator().manual_seed(0)
    n, k = 160, 1024  # K a multiple of 1024: the case the packer exists for
    q = torch.randint(-127, 128, (n, k), dtype=torch.int8, generator=generator)
    scale = torch.rand(n, generator=generator) / 100 + 1e-3
    bias = torch.randn(n, generator=generator)
    x = torch.randn(3, k, generator=generator)
    ours, theirs = packer(q, scale, bias), torch_pack(q, scale, bias)
    (w_ours, b_ours), (w_theirs, b_theirs) = (torch.ops.quantized.linear_unpack(p) for p in (ours, theirs))
    return (torch.equal(w_ours.int_repr(), w_theirs.int_repr()) and torch.equal(b_ours, b_theirs)
            and torch.equal(torch.ops.quantized.linear_dynamic(x, ours, False),
                            torch.ops.quantized.linear_dynamic(x, theirs, False)))
