"""The Tensor's method forms (`x.add(y)`, `x.exp()`, `x.sum(1)`, `x.view(...)`, `x.add_(y)`, ...):
one line each, a call into the front (api.py, api_shape.py, inplace.py), where torch's rules live.
A mixin of Tensor (tensor.py keeps what a tensor is and its operators).

The front imports tensor.py, so these methods reach it through the package (`_tt.api`), bound
once tinytape is imported: one attribute lookup per call.
"""
import numpy as np

import tinytape as _tt


class TensorMethods:
    __slots__ = ()

    # ------------------------------------------------------------------ arithmetic and math
    def add(self, other, *, alpha=1): return _tt.api.add(self, other if alpha == 1 else _tt.api.mul(other, alpha))
    def sub(self, other, *, alpha=1): return _tt.api.sub(self, other if alpha == 1 else _tt.api.mul(other, alpha))
    def mul(self, other): return _tt.api.mul(self, other)
    def div(self, other): return _tt.api.div(self, other)
    def matmul(self, other): return _tt.api.matmul(self, other)
    def add_(self, other, *, alpha=1):
        return _tt.inplace.arithmetic(self, other if alpha == 1 else _tt.api.mul(other, alpha), _tt.ops.add)
    def sub_(self, other, *, alpha=1):
        return _tt.inplace.arithmetic(self, other if alpha == 1 else _tt.api.mul(other, alpha), _tt.ops.sub)
    def mul_(self, other): return _tt.inplace.arithmetic(self, other, _tt.ops.mul)
    def div_(self, other): return _tt.inplace.arithmetic(self, other, _tt.ops.div)
    def zero_(self): return _tt.inplace.fill(self, 0, "ZeroBackward0")
    def fill_(self, value): return _tt.inplace.fill(self, value)
    def copy_(self, src): return _tt.inplace.copy(self, src)
    def clamp_(self, min=None, max=None): return _tt.inplace.clamp(self, min, max)
    def masked_fill_(self, mask, value): return _tt.inplace.masked_fill(self, mask, value)
    def masked_fill(self, mask, value): return _tt.api_more.masked_fill(self, mask, value)

    def normal_(self, mean=0.0, std=1.0, *, generator=None):
        """Fill with normal samples, torch's stream for torch's generator (_tt.random.py)."""
        values = np.empty_like(self._data)
        _tt.random.normal_array_(values, mean, std, generator)
        return _tt.inplace.fill_from(self, values)

    def uniform_(self, a=0.0, b=1.0, *, generator=None):
        values = np.empty_like(self._data)
        _tt.random.uniform_array_(values, a, b, generator)
        return _tt.inplace.fill_from(self, values)

    def exp(self): return _tt.api.exp(self)
    def log(self): return _tt.api.log(self)
    def log10(self): return _tt.api.log10(self)
    def tanh(self): return _tt.api.tanh(self)
    def sqrt(self): return _tt.api.sqrt(self)
    def relu(self): return _tt.api.relu(self)
    def sigmoid(self): return _tt.api.sigmoid(self)
    def abs(self): return _tt.api.abs(self)
    def clamp(self, min=None, max=None): return _tt.api.clamp(self, min, max)
    clip = clamp
    def pow(self, exponent): return _tt.api.pow(self, exponent)
    def clone(self): return _tt.api.clone(self)
    def sin(self): return _tt.api_more.sin(self)
    def cos(self): return _tt.api_more.cos(self)
    def rsqrt(self): return _tt.api_more.rsqrt(self)
    def log1p(self): return _tt.api_more.log1p(self)
    def erf(self): return _tt.api_more.erf(self)
    def neg(self): return _tt.api.neg(self)
    negative = neg
    def square(self): return _tt.api.mul(self, self)
    def true_divide(self, other): return _tt.api.div(self, other)
    def maximum(self, other): return _tt.api_more.maximum(self, other)
    def minimum(self, other): return _tt.api_more.minimum(self, other)
    def remainder(self, other): return _tt.api_more.remainder(self, other)
    def floor_divide(self, other): return _tt.api_more.floor_divide(self, other)
    def where(self, condition, other): return _tt.api.where(condition, self, other)
    def eq(self, other): return self == other
    def ne(self, other): return self != other
    def lt(self, other): return self < other
    def le(self, other): return self <= other
    def gt(self, other): return self > other
    def ge(self, other): return self >= other
    def bitwise_and(self, other): return _tt.api_more.bitwise_and(self, other)
    def bitwise_or(self, other): return _tt.api_more.bitwise_or(self, other)
    def bitwise_xor(self, other): return _tt.api_more.bitwise_xor(self, other)
    def bitwise_not(self): return _tt.api_more.bitwise_not(self)
    def logical_and(self, other): return _tt.api_more.logical_and(self, other)
    def logical_or(self, other): return _tt.api_more.logical_or(self, other)
    def logical_xor(self, other): return _tt.api_more.logical_xor(self, other)
    def logical_not(self): return _tt.api_more.logical_not(self)

    # operators without a gradient (// is recorded without a derivative, as torch), on the mixin
    def __floordiv__(self, o): return _op(_tt.api_more.floor_divide, self, o)
    def __rfloordiv__(self, o): return _op(_tt.api_more.floor_divide, o, self)
    def __mod__(self, o): return _op(_tt.api_more.remainder, self, o)
    def __rmod__(self, o): return _op(_tt.api_more.remainder, o, self)
    def __and__(self, o): return _op(_tt.api_more.bitwise_and, self, o)
    def __rand__(self, o): return _op(_tt.api_more.bitwise_and, o, self)
    def __or__(self, o): return _op(_tt.api_more.bitwise_or, self, o)
    def __ror__(self, o): return _op(_tt.api_more.bitwise_or, o, self)
    def __xor__(self, o): return _op(_tt.api_more.bitwise_xor, self, o)
    def __rxor__(self, o): return _op(_tt.api_more.bitwise_xor, o, self)
    def __invert__(self): return _tt.api_more.bitwise_not(self)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, *, keepdims=None, dtype=None):
        out = _tt.api_shape.sum(self, dim, keepdim if keepdims is None else keepdims)
        return out if dtype is None else _tt.api.cast(out, dtype)

    def mean(self, dim=None, keepdim=False, *, keepdims=None):
        return _tt.api_shape.mean(self, dim, keepdim if keepdims is None else keepdims)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None):
        return _tt.api_shape.var(self, dim, _correction(unbiased, correction), keepdim if keepdims is None else keepdims)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None):
        return _tt.api_shape.std(self, dim, _correction(unbiased, correction), keepdim if keepdims is None else keepdims)

    def max(self, dim=None, keepdim=False, *, keepdims=None):
        return _tt.api_more.max(self, dim, keepdim if keepdims is None else keepdims)

    def min(self, dim=None, keepdim=False, *, keepdims=None):
        return _tt.api_more.min(self, dim, keepdim if keepdims is None else keepdims)

    def argmax(self, dim=None, keepdim=False): return _tt.api_shape.argmax(self, dim, keepdim)
    def argmin(self, dim=None, keepdim=False): return _tt.api_shape.argmin(self, dim, keepdim)
    def all(self, dim=None, keepdim=False): return _tt.api_more.all(self, dim, keepdim)
    def any(self, dim=None, keepdim=False): return _tt.api_more.any(self, dim, keepdim)
    def amax(self, dim=(), keepdim=False): return _tt.api_more.amax(self, dim, keepdim)
    def amin(self, dim=(), keepdim=False): return _tt.api_more.amin(self, dim, keepdim)
    def logsumexp(self, dim, keepdim=False): return _tt.api_more.logsumexp(self, dim, keepdim)
    def cumsum(self, dim, *, dtype=None): return _tt.api_more.cumsum(self, dim, dtype=dtype)
    def prod(self, dim=None, keepdim=False, *, dtype=None): return _tt.api_more.prod(self, dim, keepdim, dtype=dtype)
    def norm(self, p="fro", dim=None, keepdim=False, dtype=None): return _tt.api_more.norm(self, p, dim, keepdim)
    def topk(self, k, dim=-1, largest=True, sorted=True): return _tt.api_more.topk(self, k, dim, largest, sorted)
    def sort(self, dim=-1, descending=False, stable=False): return _tt.api_more.sort(self, dim, descending, stable)
    def argsort(self, dim=-1, descending=False, stable=False): return _tt.api_more.argsort(self, dim, descending)
    def softmax(self, dim, dtype=None): return _tt.functional.softmax(self, dim, dtype=dtype)
    def log_softmax(self, dim, dtype=None): return _tt.functional.log_softmax(self, dim, dtype=dtype)

    # ------------------------------------------------------------------ shape
    def view(self, *shape): return _tt.api_shape.reshape(self, _shape_arg(shape), strict=True)
    def reshape(self, *shape): return _tt.api_shape.reshape(self, _shape_arg(shape))
    def view_as(self, other): return _tt.api_shape.reshape(self, other._data.shape, strict=True)
    def reshape_as(self, other): return _tt.api_shape.reshape(self, other._data.shape)
    def flatten(self, start_dim=0, end_dim=-1): return _tt.api_shape.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return _tt.api_shape.transpose(self, dim0, dim1)
    def permute(self, *dims): return _tt.api_shape.permute(self, _shape_arg(dims))
    def unsqueeze(self, dim): return _tt.api_shape.unsqueeze(self, dim)
    def squeeze(self, dim=None): return _tt.api_shape.squeeze(self, dim)
    def expand(self, *shape): return _tt.api_shape.expand(self, _shape_arg(shape))
    def expand_as(self, other): return _tt.api_shape.expand(self, other._data.shape)
    def t(self): return _tt.api_shape.t(self)
    def tril(self, diagonal=0): return _tt.api_more.tril(self, diagonal)
    def triu(self, diagonal=0): return _tt.api_more.triu(self, diagonal)
    def split(self, split_size, dim=0): return _tt.api_more.split(self, split_size, dim)
    def chunk(self, chunks, dim=0): return _tt.api_more.chunk(self, chunks, dim)
    def repeat(self, *sizes): return _tt.api_more.repeat(self, _shape_arg(sizes))
    def roll(self, shifts, dims=None): return _tt.api_more.roll(self, shifts, dims)


def _op(fn, a, b):
    """An operator: an operand that is not a tensor, number or array gives NotImplemented (Python's TypeError)."""
    try:
        return fn(a, b)
    except _tt.api.NotAnOperand:
        return NotImplemented


def _shape_arg(shape):
    """view(2, 3), view((2, 3)) and view([2, 3]) all mean (2, 3)."""
    if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)):
        return tuple(shape[0])
    return shape


def _correction(unbiased, correction):
    if correction is not None:
        if unbiased is not None:
            raise TypeError("var() takes unbiased or correction, not both")
        return correction
    return 1 if unbiased is None or unbiased else 0
