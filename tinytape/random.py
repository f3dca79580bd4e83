"""Random tensors from numpy Generators (`generator=` takes a numpy Generator or a tinytape.Generator).

numpy's streams are not torch's: the same seed gives other numbers. To start from exactly torch's
values, make the arrays with torch and pass them in (tinytape.tensor(t.numpy())).
"""
import numpy as np

from . import dtypes
from .tensor import _make, _shape_arg, Tensor

_default = np.random.default_rng()


class Generator:
    """torch.Generator's shape over a numpy Generator: `Generator().manual_seed(2147483647)`."""

    def __init__(self, device="cpu"):
        self.rng = np.random.default_rng()

    def manual_seed(self, seed):
        self.rng = np.random.default_rng(int(seed))
        return self

    def get_state(self):
        return self.rng.bit_generator.state

    def set_state(self, state):
        self.rng.bit_generator.state = state
        return self


def manual_seed(seed):
    """Seed the default generator (used when no generator= is given)."""
    global _default
    _default = np.random.default_rng(int(seed))
    return _default


def _rng(generator):
    if generator is None:
        return _default
    if isinstance(generator, Generator):
        return generator.rng
    if isinstance(generator, np.random.Generator):
        return generator
    raise TypeError(f"generator must be a numpy Generator or tinytape.Generator, got {type(generator).__name__}")


def _float_dtype(dtype):
    dtype = np.dtype(dtypes.default_float() if dtype is None else dtype)
    if dtype not in dtypes.FLOATS:
        raise TypeError(f"random floats need dtype float32 or float64, got {dtype}")
    return dtype


def _shape(shape):
    shape = tuple(int(s) for s in _shape_arg(shape))
    if any(s < 0 for s in shape):
        raise RuntimeError(f"Trying to create tensor with negative dimension: {shape}")
    return shape


def _leaf(arr, requires_grad):
    t = _make(arr)
    return t.requires_grad_(True) if requires_grad else t


def randn(*shape, generator=None, dtype=None, requires_grad=False):
    """Standard normal samples (drawn in float64, then cast)."""
    return _leaf(_rng(generator).standard_normal(_shape(shape)).astype(_float_dtype(dtype)), requires_grad)


def rand(*shape, generator=None, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    return _leaf(_rng(generator).random(_shape(shape)).astype(_float_dtype(dtype)), requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None):
    """Integers in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() needs a size, e.g. randint(0, 10, (32,))")
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    arr = _rng(generator).integers(low, high, size=_shape((size,)))
    return _make(arr.astype(np.int64 if dtype is None else dtype))


def multinomial(input, num_samples, replacement=False, generator=None):
    """Indices drawn with probabilities proportional to each row of `input` (torch.multinomial)."""
    p = input._data if isinstance(input, Tensor) else np.asarray(input)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    rows = np.atleast_2d(p).astype(np.float64)
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = rows.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    if not replacement and num_samples > rows.shape[1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rng = _rng(generator)
    out = np.stack([rng.choice(rows.shape[1], size=num_samples, replace=replacement, p=r / r.sum())
                    for r in rows])
    return _make((out[0] if p.ndim == 1 else out).astype(np.int64))
