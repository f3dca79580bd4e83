"""The lecture's model: embedding -> flatten -> linear -> batchnorm (Bessel) -> tanh -> linear.

    model = MLP(n_hidden=200, generator=tinytape.Generator().manual_seed(2147483647))  # torch's init, bit for bit
    model = MLP.from_arrays(C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=g, bnbias=b)
    logits = model(Xb)                                                   # (n, 27)

Its parameters have the lecture's names as attributes (model.C, W1, b1, W2, b2, bngain, bnbias),
the same objects as the layers' (model.emb.weight is model.C). Two choices of the lecture are
kept: the batchnorm normalises with Bessel's correction (unbiased=True), and its running
statistics are not tracked during training (momentum=0.0): `nn.calibrate(model, Xtr)` sets them
from the whole training set afterwards, as exercise 4 does. Pass momentum=0.1 for torch's running
estimate instead.
"""
from collections import OrderedDict

import numpy as np

import tinytape

from .checkpoint import load_arrays
from .data import vocab_size as VOCAB_SIZE
from .modules import BatchNorm1d, Embedding, Flatten, Linear, Sequential, Tanh, _float_dtype, _rng

LECTURE_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
_WHERE = {"C": ("emb", "weight"), "W1": ("fc1", "weight"), "b1": ("fc1", "bias"),
          "W2": ("fc2", "weight"), "b2": ("fc2", "bias"), "bngain": ("bn", "weight"),
          "bnbias": ("bn", "bias")}


def lecture_init(rng, vocab_size=VOCAB_SIZE, block_size=3, n_embd=10, n_hidden=200, dtype=None):
    """The lecture's non-standard init as numpy arrays, drawn from `rng` in the lecture's order:
    C ~ N(0,1); W1 ~ N(0,1) * (5/3)/sqrt(fan_in); b1, W2, b2 ~ N(0,1) * 0.1;
    bngain ~ 1 + 0.1 N(0,1); bnbias ~ 0.1 N(0,1) (both (1, n_hidden)).
    With a tinytape.Generator (`tinytape.Generator().manual_seed(2147483647)`) these are torch's
    values to the bit: float32 draws and float32 arithmetic as the lecture's torch code, then the
    cast to dtype. With a numpy Generator they are computed in float64 before the cast."""
    dtype = _float_dtype(dtype)
    fan_in = n_embd * block_size
    if isinstance(rng, tinytape.Generator):
        def randn(*shape):
            return np.asarray(tinytape.randn(shape, generator=rng))     # float32, torch's stream
    else:
        rng = _rng(rng)

        def randn(*shape):
            return rng.standard_normal(shape)
    p = {
        "C": randn(vocab_size, n_embd),
        "W1": randn(fan_in, n_hidden) * (5 / 3) / fan_in**0.5,
        "b1": randn(n_hidden) * 0.1,
        "W2": randn(n_hidden, vocab_size) * 0.1,
        "b2": randn(vocab_size) * 0.1,
        "bngain": randn(1, n_hidden) * 0.1 + 1.0,
        "bnbias": randn(1, n_hidden) * 0.1,
    }
    return {k: v.astype(dtype) for k, v in p.items()}


class MLP(Sequential):
    """The lecture's MLP (block_size 3, n_embd 10, n_hidden 200; 64 in exercise 1) with its init.
    12,297 parameters at n_hidden 200, 4,137 at 64."""

    def __init__(self, vocab_size=VOCAB_SIZE, block_size=3, n_embd=10, n_hidden=200, *,
                 generator=None, dtype=None, momentum=0.0):
        for name, v in (("vocab_size", vocab_size), ("block_size", block_size), ("n_embd", n_embd),
                        ("n_hidden", n_hidden)):
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        dtype = _float_dtype(dtype)
        quiet = np.random.default_rng(0)        # the layers' own init is overwritten just below
        super().__init__(OrderedDict(
            emb=Embedding(vocab_size, n_embd, generator=quiet, dtype=dtype),
            flatten=Flatten(),
            fc1=Linear(n_embd * block_size, n_hidden, generator=quiet, dtype=dtype),
            bn=BatchNorm1d(n_hidden, momentum=momentum, unbiased=True, dtype=dtype),
            tanh=Tanh(),
            fc2=Linear(n_hidden, vocab_size, generator=quiet, dtype=dtype),
        ))
        self.vocab_size, self.block_size = int(vocab_size), int(block_size)
        self.n_embd, self.n_hidden, self.dtype = int(n_embd), int(n_hidden), dtype
        self.set_lecture_params(lecture_init(generator, vocab_size, block_size, n_embd, n_hidden, dtype))

    # ------------------------------------------------------------------ the lecture's names
    C = property(lambda self: self.emb.weight)
    W1 = property(lambda self: self.fc1.weight)
    b1 = property(lambda self: self.fc1.bias)
    W2 = property(lambda self: self.fc2.weight)
    b2 = property(lambda self: self.fc2.bias)
    bngain = property(lambda self: self.bn.weight)
    bnbias = property(lambda self: self.bn.bias)

    def lecture_parameters(self):
        """[C, W1, b1, W2, b2, bngain, bnbias]: the lecture's `parameters` list."""
        return [getattr(self, k) for k in LECTURE_NAMES]

    def set_lecture_params(self, arrays):
        """Copy {C, W1, b1, W2, b2, bngain, bnbias} into the parameters in place (bngain and
        bnbias may be (n_hidden,) or the lecture's (1, n_hidden)). Unchanged on any error."""
        missing = [k for k in LECTURE_NAMES if k not in arrays]
        extra = [k for k in arrays if k not in LECTURE_NAMES]
        if missing or extra:
            raise ValueError(f"the lecture's parameters are {', '.join(LECTURE_NAMES)}; "
                             f"missing {missing}, unexpected {extra}")
        state = {}
        for k in LECTURE_NAMES:
            a = arrays[k]
            a = np.asarray(a)
            want = getattr(self, k).shape
            if a.shape != want and a.shape == (1,) + want:         # (1, n_hidden) -> (n_hidden,)
                a = a.reshape(want)
            if a.dtype.kind != "f":
                raise ValueError(f"{k} must be a float array, got dtype {a.dtype}")
            layer, attr = _WHERE[k]
            state[f"{layer}.{attr}"] = a
        own = self.state_dict()
        state.update({k: v for k, v in own.items() if k not in state})   # buffers stay as they are
        self.load_state_dict(state)
        return self

    @classmethod
    def from_arrays(cls, C, W1, b1, W2, b2, bngain, bnbias, *, dtype=None, momentum=0.0):
        """A model holding copies of the given arrays (numpy, tinytape, or anything np.asarray
        reads), sizes inferred from them: to start from exactly torch's values, pass
        `t.detach().numpy()` of each. dtype defaults to C's (float32 or float64)."""
        arrays = dict(C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=bngain, bnbias=bnbias)
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        c, w1 = arrays["C"], arrays["W1"]
        if c.ndim != 2 or w1.ndim != 2:
            raise ValueError(f"C must be (vocab_size, n_embd) and W1 (block_size*n_embd, n_hidden); "
                             f"got C {c.shape}, W1 {w1.shape}")
        (vocab, n_embd), (fan_in, hidden) = c.shape, w1.shape
        if fan_in % n_embd:
            raise ValueError(f"W1 has {fan_in} rows, which is not block_size * n_embd for n_embd={n_embd} "
                             f"(C's width)")
        dtype = dtype if dtype is not None else (c.dtype if c.dtype.kind == "f" else None)
        model = cls(vocab, fan_in // n_embd, n_embd, hidden, generator=np.random.default_rng(0),
                    dtype=dtype, momentum=momentum)
        return model.set_lecture_params(arrays)

    @classmethod
    def from_file(cls, path, *, momentum=0.0):
        """A model of the size and dtype stored in an .npz written by `save`."""
        state = load_arrays(path)
        try:
            c, w1 = state["emb.weight"], state["fc1.weight"]
            vocab, n_embd = c.shape
            fan_in, hidden = w1.shape
            assert fan_in % n_embd == 0 and c.dtype.kind == "f"
        except (KeyError, ValueError, AssertionError):
            raise ValueError(f"{path} does not hold an nn.MLP's parameters (emb.weight, fc1.weight, ...); "
                             f"it has {sorted(state)}") from None
        model = cls(vocab, fan_in // n_embd, n_embd, hidden, generator=np.random.default_rng(0),
                    dtype=c.dtype, momentum=momentum)
        try:
            return model.load_state_dict(state)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None
