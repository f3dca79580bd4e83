"""Random tensors with torch 2.13's CPU streams: the same seed gives torch's numbers, bit for bit.

    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((27, 10), generator=g)          # torch's C, to the last bit
    ix = torch.randint(0, 182625, (32,), generator=g)

`Generator` is torch's CPU generator (mt19937, see mt19937.py) and the functions below apply torch's
transformations (distributions.py); the generator's state after every call is torch's too, and
`get_state()` gives torch's 5,056 state bytes. `generator=` also takes a numpy Generator: then the
numbers are numpy's (as before tinytape reproduced torch's streams).

One thing is machine-specific in torch itself: float32 normals of 16 or more elements come from its
AVX2 code (every x86 CPU of the last decade); torch built or run without a vector unit gives other
float32 normals. tinytape always gives the AVX2 ones. See docs/random.md.
"""
import os

import numpy as np

from . import distributions as D
from . import dtypes
from .mt19937 import DEFAULT_SEED, Engine
from .tensor import _make, _shape_arg


class Generator:
    """torch.Generator (CPU): `Generator().manual_seed(2147483647)`, seed(), initial_seed(),
    get_state() / set_state() in torch's byte layout."""

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise RuntimeError(f"tinytape has only the CPU generator, got device {device!r}")
        self._engine = Engine(DEFAULT_SEED)
        self._numpy = None

    device = property(lambda self: "cpu")

    def manual_seed(self, seed):
        """Seed with an integer in [-2^63, 2^64) (taken modulo 2^64, as torch); returns the generator."""
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
            raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        seed = int(seed)
        if not -(1 << 63) <= seed < 1 << 64:
            raise ValueError("Overflow when unpacking long long")
        self._engine.manual_seed(seed)
        return self

    def seed(self):
        """Seed from the operating system's entropy; returns the 64-bit seed used."""
        s = int.from_bytes(os.urandom(8), "little")
        self._engine.manual_seed(s)
        return s

    def initial_seed(self):
        return self._engine.seed

    def get_state(self):
        """torch's CPUGeneratorImplState: a uint8 tensor of 5,056 bytes."""
        return _make(self._engine.get_state())

    def set_state(self, new_state):
        """Load a state from get_state() (tinytape's or torch's: a uint8 tensor or array)."""
        self._engine.set_state(np.asarray(new_state))
        return self

    @property
    def rng(self):
        """A numpy Generator over this generator's Mersenne Twister (numpy's transformations, the
        same stream of words): for code that wants numpy's methods."""
        if self._numpy is None:
            self._numpy = np.random.Generator(self._engine.bit_generator)
        return self._numpy

    def __repr__(self):
        return f"<tinytape.Generator initial_seed={self._engine.seed}>"


default_generator = Generator()


def manual_seed(seed):
    """Seed the default generator (used when no generator= is given); returns it."""
    return default_generator.manual_seed(seed)


def seed():
    """Seed the default generator from the operating system; returns the seed."""
    return default_generator.seed()


def initial_seed():
    return default_generator.initial_seed()


def get_rng_state():
    return default_generator.get_state()


def set_rng_state(new_state):
    default_generator.set_state(new_state)


# ---------------------------------------------------------------------------------- helpers
def _rng(generator):
    """The generator to draw from: a tinytape.Generator (the default one for None) or a numpy
    Generator."""
    if generator is None:
        return default_generator
    if isinstance(generator, (Generator, np.random.Generator)):
        return generator
    raise TypeError(f"generator must be a tinytape.Generator or a numpy Generator, got {type(generator).__name__}")


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


def _values(t):
    return np.asarray(t)


# ---------------------------------------------------------------------------------- array level
def _memory_order(arr):
    """A view of `arr` whose C order is its memory order (how torch's TensorIterator walks a
    tensor that is not contiguous)."""
    order = sorted(range(arr.ndim), key=lambda d: -abs(arr.strides[d]))
    return arr.transpose(order)


def normal_array_(arr, mean=0.0, std=1.0, generator=None):
    """Fill the float numpy array `arr` in place as torch's `t.normal_(mean, std, generator=g)`."""
    g = _rng(generator)
    dtype = _float_dtype(arr.dtype)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if isinstance(g, np.random.Generator):
        arr[...] = g.normal(mean, std, arr.shape).astype(dtype)
        return arr
    if arr.flags.c_contiguous:
        vals = D.normal(g._engine, arr.size, mean, std, dtype)
    else:                                       # torch: the scalar path, in memory order
        vals = D.normal_scalar(g._engine, arr.size, mean, std).astype(dtype)
    view = arr if arr.flags.c_contiguous else _memory_order(arr)
    view[...] = vals.reshape(view.shape)
    return arr


def uniform_array_(arr, a=0.0, b=1.0, generator=None):
    """Fill the float numpy array `arr` in place as torch's `t.uniform_(a, b, generator=g)`."""
    g = _rng(generator)
    dtype = _float_dtype(arr.dtype)
    if isinstance(g, np.random.Generator):
        arr[...] = g.uniform(a, b, arr.shape).astype(dtype)
        return arr
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    view = arr if arr.flags.c_contiguous else _memory_order(arr)
    view[...] = D.uniform(g._engine, arr.size, a, b, dtype).reshape(view.shape)
    return arr


def bernoulli_mask(shape, p, dtype=np.float32, generator=None):
    """A new array of `shape` and `dtype` holding 1 with probability p and 0 otherwise, drawn as
    torch's `empty(shape, dtype=dtype).bernoulli_(p, generator=g)`. torch's dropout(x, q) in
    training draws `bernoulli_mask(x.shape, 1 - q, x.dtype)` and returns x * (mask / (1 - q))."""
    g = _rng(generator)
    shape = _shape(shape)
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p}")
    n = int(np.prod(shape, dtype=np.int64))
    hits = g.random(n) < p if isinstance(g, np.random.Generator) else D.bernoulli_scalar(g._engine, n, p)
    return hits.reshape(shape).astype(dtype)


# ---------------------------------------------------------------------------------- tensors
def randn(*shape, generator=None, dtype=None, requires_grad=False):
    """Standard normal samples (torch.randn)."""
    shape, dtype = _shape(shape), _float_dtype(dtype)
    return _leaf(normal_array_(np.empty(shape, dtype), 0.0, 1.0, generator), requires_grad)


def rand(*shape, generator=None, dtype=None, requires_grad=False):
    """Uniform samples in [0, 1) (torch.rand)."""
    shape, dtype = _shape(shape), _float_dtype(dtype)
    return _leaf(uniform_array_(np.empty(shape, dtype), 0.0, 1.0, generator), requires_grad)


def randn_like(input, *, generator=None, dtype=None, requires_grad=False):
    dtype = _values(input).dtype if dtype is None else dtype
    return randn(tuple(np.shape(_values(input))), generator=generator, dtype=dtype, requires_grad=requires_grad)


def rand_like(input, *, generator=None, dtype=None, requires_grad=False):
    dtype = _values(input).dtype if dtype is None else dtype
    return rand(tuple(np.shape(_values(input))), generator=generator, dtype=dtype, requires_grad=requires_grad)


def randint(low, high=None, size=None, generator=None, dtype=None):
    """Integers in [low, high): randint(high, size) or randint(low, high, size), as torch."""
    if size is None:
        low, high, size = 0, low, high
    if size is None:
        raise TypeError("randint() needs a size, e.g. randint(0, 10, (32,))")
    low, high = int(low), int(high)
    if high <= low:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    shape = _shape((size,))
    n = int(np.prod(shape, dtype=np.int64))
    g = _rng(generator)
    arr = g.integers(low, high, size=shape) if isinstance(g, np.random.Generator) else \
        D.randint(g._engine, n, low, high).reshape(shape)
    return _make(arr.astype(np.int64 if dtype is None else dtype))


def randperm(n, *, generator=None, dtype=None, requires_grad=False):
    """A random permutation of 0..n-1 (torch.randperm)."""
    n = int(n)
    if n < 0:
        raise RuntimeError(f"n must be non-negative, got{n}")
    g = _rng(generator)
    arr = g.permutation(n) if isinstance(g, np.random.Generator) else D.randperm(g._engine, n)
    return _leaf(arr.astype(np.int64 if dtype is None else dtype), requires_grad)


def multinomial(input, num_samples, replacement=False, generator=None):
    """Indices drawn with probabilities proportional to each row of `input` (torch.multinomial)."""
    p = _values(input)
    if p.ndim not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if p.dtype.kind != "f":
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {p.dtype}")
    num_samples = int(num_samples)
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    if not replacement and num_samples > p.shape[-1]:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    rows = p.reshape(-1, p.shape[-1])
    if (rows < 0).any() or not np.isfinite(rows).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if (rows.sum(axis=1) <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    g = _rng(generator)
    if isinstance(g, np.random.Generator):
        r64 = rows.astype(np.float64)
        out = np.stack([g.choice(r64.shape[1], size=num_samples, replace=replacement, p=r / r.sum())
                        for r in r64])
        return _make((out[0] if p.ndim == 1 else out).astype(np.int64))
    return _make(D.multinomial(g._engine, np.ascontiguousarray(p), num_samples, replacement))


def bernoulli(input, p=None, *, generator=None):
    """torch.bernoulli: 1 with probability input[i] (or with probability p everywhere when p is
    given), in input's dtype."""
    probs = _values(input)
    g = _rng(generator)
    if p is not None:
        return _make(bernoulli_mask(probs.shape, p, probs.dtype, g))
    if probs.dtype.kind != "f":
        raise RuntimeError(f"bernoulli only supports floating-point dtypes for input, got: {probs.dtype}")
    if ((probs < 0) | (probs > 1) | np.isnan(probs)).any():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")
    if isinstance(g, np.random.Generator):
        hits = g.random(probs.shape) < probs
    else:
        hits = D.bernoulli_tensor(g._engine, probs)
    return _make(hits.astype(probs.dtype))
