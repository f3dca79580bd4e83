"""tinytape: a tape-based autodiff engine over numpy, with PyTorch's API.

    import tinytape as torch
    import tinytape.functional as F

runs the forward pass of "becoming a backprop ninja" as written. Files, one purpose each:
tensor.py (the Tensor), tape.py (recording and the reverse walk), ops.py (every primitive with its
backward rule), functional.py (softmax, fused cross-entropy and batchnorm), shapes.py (broadcast
reduction and dims), dtypes.py (type promotion), quiet.py (silencing numpy warnings), random.py,
gradcheck.py, check.py (the exercise checker), viz.py (the tape as a table and a graph).
"""
from . import functional, ops
from .dtypes import (bool, double, float, float32, float64, int, int8, int16, int32, int64, long,
                     short, uint8)
from .gradcheck import GradcheckError, gradcheck
from .random import Generator, manual_seed, multinomial, rand, randint, randn
from .tape import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .tensor import (Tensor, arange, as_tensor, empty, from_numpy, full, ones, ones_like, tensor,
                     zeros, zeros_like)
from .ops import (abs, addmm, argmax, argmin, cat, clamp, clone, exp, log, matmul, max, mean, min, permute,
                  relu, reshape, sigmoid, sqrt, stack, sum, tanh, transpose, where)
from .functional import log_softmax, softmax
from . import check, viz
from .check import cmp

__version__ = "0.1.0"
dtype = type(float32)


def pow(input, exponent):
    return ops.pow(input, exponent)


def flatten(input, start_dim=0, end_dim=-1):
    return ops.flatten(input, start_dim, end_dim)


def unsqueeze(input, dim):
    return ops.unsqueeze(input, dim)


def squeeze(input, dim=None):
    return ops.squeeze(input, dim)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.var(dim, unbiased, keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None):
    return input.std(dim, unbiased, keepdim, correction=correction)


def all(input):
    return input.all() if isinstance(input, Tensor) else tensor(ops.np.all(input))


def any(input):
    return input.any() if isinstance(input, Tensor) else tensor(ops.np.any(input))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """torch.allclose on tensors or numpy arrays: |a - b| <= atol + rtol * |b| everywhere."""
    a = input.data if isinstance(input, Tensor) else ops.np.asarray(input)
    b = other.data if isinstance(other, Tensor) else ops.np.asarray(other)
    return builtins.bool(ops.np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(input, other):
    a = input.data if isinstance(input, Tensor) else ops.np.asarray(input)
    b = other.data if isinstance(other, Tensor) else ops.np.asarray(other)
    return a.shape == b.shape and builtins.bool((a == b).all())


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


import builtins  # noqa: E402  (dtype names above shadow bool/int/float in this namespace)
