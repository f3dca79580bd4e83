"""tinytape: a tape-based autodiff engine over numpy, with PyTorch's API.

    import tinytape as torch
    import tinytape.functional as F

runs the lectures' code as written. Files, one purpose each:
- the math: ops.py (every primitive with its backward rule), fused.py (the lecture's fused ops),
  shapes.py (broadcast reduction and dims);
- the torch front: api.py and api_shape.py (checks, promotion, names, views), inplace.py
  (in-place ops), indexing.py (torch's index rules), errors.py (torch's error texts), dtypes.py,
  creation.py (factories), functional.py (torch.nn.functional), printing.py (what is printed);
- the engine: tensor.py (the Tensor), tape.py (nodes, versions and the reverse walk);
- tools: random.py, gradcheck.py, check.py (the exercise checker), viz.py (the tape as a table
  and a graph), derivatives.py (`python -m tinytape.ops` prints the table of rules).
"""
import builtins as _builtins

import numpy as _np

from . import tensor as _tensor_module  # noqa: F401  (first: the front modules need the Tensor class)
from . import functional, ops
from .dtypes import (bool, double, dtype, float, float32, float64, get_default_dtype, int, int8, int16, int32,
                     int64, long, set_default_dtype, short, uint8)
from .tensor import Tensor
from .device import device
from .printing import Size, get_printoptions, set_printoptions
from .creation import (arange, as_tensor, empty, empty_like, from_numpy, full, full_like, histogram, linspace,
                       ones, ones_like, tensor, zeros, zeros_like)
from .tape import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .api import (abs, addmm, clamp, clone, exp, log, log10, matmul, relu, sigmoid, sqrt, tanh, where)
from . import api
from .api_shape import argmax, argmin, cat, flatten, max, mean, min, permute, squeeze, stack, sum, unsqueeze
from .api_shape import reshape as _reshape, transpose
from .functional import log_softmax, softmax
from .api_more import (amax, amin, argsort, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, chunk, cos, cumsum,
                       erf, eye, floor_divide, log1p, logical_and, logical_not, logical_or, logical_xor, logsumexp,
                       masked_fill, maximum, minimum, norm, prod, remainder, roll, rsqrt, sin, sort, split, topk,
                       tril, triu)
from .gradcheck import GradcheckError, gradcheck
from .random import (Generator, bernoulli, default_generator, get_rng_state, initial_seed, manual_seed,
                     multinomial, rand, rand_like, randint, randn, randn_like, randperm, seed, set_rng_state)
from . import check, viz
from .check import cmp

__version__ = "0.2.0"
clip = clamp


def reshape(input, shape):
    return _reshape(input, shape)


def pow(input, exponent):
    return input.pow(exponent)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.var(dim, unbiased, keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.std(dim, unbiased, keepdim, correction=correction)


def t(input):
    return input.t()


def all(input):
    return input.all() if isinstance(input, Tensor) else tensor(_np.all(input))


def any(input):
    return input.any() if isinstance(input, Tensor) else tensor(_np.any(input))


def is_floating_point(input):
    return input.is_floating_point()


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """torch.allclose on tensors or numpy arrays: |a - b| <= atol + rtol * |b| everywhere."""
    return _builtins.bool(_np.allclose(_np.asarray(input), _np.asarray(other), rtol=rtol, atol=atol,
                                       equal_nan=equal_nan))


def equal(input, other):
    a, b = _np.asarray(input), _np.asarray(other)
    return a.shape == b.shape and _builtins.bool((a == b).all())


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


# the later lectures' ops (api_more.py): torch.max(a, b) and torch.min(a, b) are elementwise,
# all and any take dims; these replace the definitions above
from .api_more import all, any, max, min  # noqa: E402,F811


def repeat_interleave(*args, **kwargs):
    raise NotImplementedError("tinytape has no repeat_interleave yet")


def add(input, other, *, alpha=1):
    return input.add(other, alpha=alpha) if isinstance(input, Tensor) else tensor(input).add(other, alpha=alpha)


def sub(input, other, *, alpha=1):
    return input.sub(other, alpha=alpha)


def mul(input, other):
    return api.mul(input, other)


def div(input, other):
    return api.div(input, other)


def neg(input):
    return input.neg()
from . import nn  # noqa: E402  (torch.nn: last, it builds on the rest)
from . import optim  # noqa: E402  (torch.optim)
