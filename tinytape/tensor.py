"""The Tensor: a numpy array (`.data`), its gradient (`.grad`, a numpy array or None), and flags.

Every method that computes is a thin wrapper over a function in `ops` (where its backward rule
lives). API and error messages follow PyTorch's.
"""
import numpy as np

from . import dtypes
from . import tape

_new_object = object.__new__


def _make(data):
    """Wrap a numpy result as a tensor that does not require grad (the hot path: no checks)."""
    t = _new_object(Tensor)
    t.data = data if type(data) is np.ndarray else np.asarray(data)
    t._grad = None
    t._rg = False
    t._node = None
    return t


class Tensor:
    __slots__ = ("data", "_grad", "_rg", "_node", "__weakref__")
    __array_ufunc__ = None          # `ndarray * Tensor` defers to Tensor.__rmul__
    __hash__ = object.__hash__      # __eq__ is elementwise, identity stays hashable

    def __init__(self, data, dtype=None, requires_grad=False):
        t = tensor(data, dtype=dtype, requires_grad=requires_grad)
        self.data, self._grad, self._rg, self._node = t.data, None, t._rg, None

    # ------------------------------------------------------------------ autograd state
    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, g):
        if g is not None:
            if isinstance(g, Tensor):
                g = g.data
            elif not isinstance(g, np.ndarray):
                raise TypeError(f"assigned grad expected to be a Tensor, a numpy array or None but got grad "
                                f"of type {type(g).__name__}")
            if g.shape != self.data.shape:
                raise RuntimeError(f"attempting to assign a gradient of size '{list(g.shape)}' to a tensor of "
                                   f"size '{list(self.data.shape)}'. Please ensure that the gradient and the "
                                   f"tensor are the same size")
            if g.dtype != self.data.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype "
                                   f"'{dtypes.C_NAMES.get(g.dtype, g.dtype)}' to a tensor with grad_dtype "
                                   f"'{dtypes.TORCH_NAMES.get(self.data.dtype, self.data.dtype)}'. The gradient "
                                   f"must match the tensor's grad_dtype (defaults to the tensor's dtype).")
        self._grad = g

    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        if self._node is not None and flag:              # torch: the attribute refuses, requires_grad_() not
            raise RuntimeError("you can only change requires_grad flags of leaf variables.")
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        flag = bool(requires_grad)
        if self._node is not None:                        # a result: it requires grad already
            if flag:
                return self
            raise RuntimeError("you can only change requires_grad flags of leaf variables. If you want "
                               "to use a computed variable in a subgraph that doesn't require "
                               "differentiation use var_no_grad = var.detach().")
        if flag and self.data.dtype not in dtypes.FLOATS:
            raise RuntimeError(f"only Tensors of floating point dtype can require gradients "
                               f"(this one is {self.data.dtype})")
        self._rg = flag
        return self

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        """The name of the op that made this tensor (None for a leaf)."""
        return None if self._node is None else self._node[0]

    def retain_grad(self):
        """Accepted for ported code: every intermediate that takes part in backward keeps its .grad."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")

    def backward(self, gradient=None, retain_graph=False):
        if not self._rg:
            raise RuntimeError("element 0 of tensors does not require grad and does not have a grad_fn")
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            seed = np.ones(self.data.shape, self.data.dtype)
        else:
            g = gradient.data if isinstance(gradient, Tensor) else np.asarray(gradient)
            if g.shape != self.data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} "
                                   f"and output[0] has a shape of {tuple(self.data.shape)}.")
            if g.dtype.kind not in "fiub":
                raise TypeError(f"gradient must be a real array, got dtype {g.dtype}")
            seed = np.array(g, dtype=self.data.dtype)      # a copy: the caller's array stays theirs
        tape.backward(self, seed, retain_graph)

    def detach(self):
        """The same data (shared, as in torch), outside the graph."""
        return _make(self.data)

    def detach_(self):
        if self._node is not None:
            self._node = None
        self._rg = False
        return self

    def clone(self):
        return ops.clone(self)

    # ------------------------------------------------------------------ attributes
    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)
    dtype = property(lambda self: self.data.dtype)
    T = property(lambda self: ops.permute(self, tuple(range(self.data.ndim))[::-1]))
    mT = property(lambda self: ops.transpose(self, -2, -1))
    device = property(lambda self: "cpu")

    def size(self, dim=None):
        return self.data.shape if dim is None else self.data.shape[_dim(dim, self.data.ndim)]

    def dim(self):
        return self.data.ndim

    def nelement(self):
        return self.data.size

    numel = nelement

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(f"a Tensor with {self.data.size} elements cannot be converted to Scalar")
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self):
        if self._rg:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. "
                               "Use tensor.detach().numpy() instead.")
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)

    def to(self, dtype):
        return ops.cast(self, dtype)

    def type(self, dtype):
        return ops.cast(self, dtype)

    def float(self):
        return ops.cast(self, dtypes.float32)

    def double(self):
        return ops.cast(self, dtypes.float64)

    def long(self):
        return ops.cast(self, dtypes.int64)

    def int(self):
        return ops.cast(self, dtypes.int32)

    def bool(self):
        return ops.cast(self, dtypes.bool)

    def contiguous(self):
        return self

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self.data)

    def __iter__(self):
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __bool__(self):
        if self.data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self.data)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.data.item())

    def __repr__(self):
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (dtypes.float32, dtypes.int64, dtypes.bool):
            extra += f", dtype=tinytape.{self.data.dtype}"
        if self._node is not None:
            extra += f", grad_fn=<{self._node[0]}>"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __pow__(self, exponent): return ops.pow(self, exponent)
    def __rpow__(self, base): return ops.rpow(self, base)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)

    # in place: allowed on tensors outside the graph (manual gradients, updates under no_grad)
    def __iadd__(self, other): return ops.inplace(self, other, np.add)
    def __isub__(self, other): return ops.inplace(self, other, np.subtract)
    def __imul__(self, other): return ops.inplace(self, other, np.multiply)
    def __itruediv__(self, other): return ops.inplace(self, other, np.divide)

    def __setitem__(self, index, value): ops.setitem(self, index, value)
    def __getitem__(self, index): return ops.getitem(self, index)

    # comparisons give bool tensors and are not recorded
    def __eq__(self, other): return ops.compare(self, other, np.equal)
    def __ne__(self, other): return ops.compare(self, other, np.not_equal)
    def __lt__(self, other): return ops.compare(self, other, np.less)
    def __le__(self, other): return ops.compare(self, other, np.less_equal)
    def __gt__(self, other): return ops.compare(self, other, np.greater)
    def __ge__(self, other): return ops.compare(self, other, np.greater_equal)

    # ------------------------------------------------------------------ elementwise
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def tanh(self): return ops.tanh(self)
    def sqrt(self): return ops.sqrt(self)
    def relu(self): return ops.relu(self)
    def sigmoid(self): return ops.sigmoid(self)
    def abs(self): return ops.abs(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    clip = clamp
    def pow(self, exponent): return ops.pow(self, exponent)

    # ------------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim=False, *, keepdims=None):
        return ops.sum(self, dim, keepdim if keepdims is None else keepdims)

    def mean(self, dim=None, keepdim=False, *, keepdims=None):
        return ops.mean(self, dim, keepdim if keepdims is None else keepdims)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None):
        return ops.var(self, dim, _correction(unbiased, correction), keepdim if keepdims is None else keepdims)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None, keepdims=None):
        return ops.std(self, dim, _correction(unbiased, correction), keepdim if keepdims is None else keepdims)

    def max(self, dim=None, keepdim=False, *, keepdims=None):
        return ops.max(self, dim, keepdim if keepdims is None else keepdims)

    def min(self, dim=None, keepdim=False, *, keepdims=None):
        return ops.min(self, dim, keepdim if keepdims is None else keepdims)

    def argmax(self, dim=None, keepdim=False):
        return ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return ops.argmin(self, dim, keepdim)

    def all(self):
        return _make(np.asarray(self.data.all()))

    def any(self):
        return _make(np.asarray(self.data.any()))

    # ------------------------------------------------------------------ shape
    def view(self, *shape): return ops.reshape(self, _shape_arg(shape))
    def reshape(self, *shape): return ops.reshape(self, _shape_arg(shape))
    def view_as(self, other): return ops.reshape(self, other.shape)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def transpose(self, dim0, dim1): return ops.transpose(self, dim0, dim1)
    def permute(self, *dims): return ops.permute(self, _shape_arg(dims))
    def unsqueeze(self, dim): return ops.unsqueeze(self, dim)
    def squeeze(self, dim=None): return ops.squeeze(self, dim)
    def expand(self, *shape): return ops.expand(self, _shape_arg(shape))

    def t(self):
        if self.data.ndim > 2:
            raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {self.data.ndim}D")
        return self.T


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


def _dim(dim, ndim):
    from .shapes import norm_dim
    return norm_dim(dim, ndim)


# ---------------------------------------------------------------------------------- creation
def _array(data, dtype):
    """torch.tensor's reading of data: Python floats become float32, ints int64, arrays keep dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or isinstance(data, np.generic):
        arr = np.array(data, dtype=dtype)                  # a copy, as torch.tensor copies
    else:
        try:
            try:
                arr = np.array(data, dtype=dtype)
            except TypeError:                              # 0-d tensors in a list: numpy asks their len()
                arr = np.array(_unwrap(data), dtype=dtype)
        except ValueError as e:
            raise ValueError(_ragged(data) or f"tensor data is ragged or not numeric: {e}") from None
        if dtype is None and arr.dtype == np.float64 and not _has_float64(data):
            arr = arr.astype(dtypes.default_float)         # Python floats: float32; a float64 element wins
    if arr.dtype.kind == "O":
        raise TypeError(f"tensor data must be numbers, got objects of type "
                        f"{type(arr.flat[0]).__name__ if arr.size else 'object'}")
    return arr


def _unwrap(data):
    """Nested lists with each tensor replaced by its array."""
    if isinstance(data, (list, tuple)):
        return [_unwrap(e) for e in data]
    return data.data if isinstance(data, Tensor) else data


def _has_float64(data):
    """Whether nested lists hold a float64 element (np.float64, a float64 array or tensor): torch then
    makes the whole tensor float64, as it promotes the elements' dtypes."""
    if isinstance(data, (list, tuple)):
        return any(_has_float64(e) for e in data)
    dt = getattr(data, "dtype", None)
    return isinstance(dt, np.dtype) and dt == dtypes.float64        # (np.dtype(None) is float64)


def _ragged(data):
    """torch's words for nested lists of uneven lengths: the shape is read along the first
    elements, and the first list of another length is named (None if that is not the problem)."""
    shape, d = [], data
    while isinstance(d, (list, tuple)):
        shape.append(len(d))
        d = d[0] if len(d) else None

    def walk(seq, dim):
        if dim >= len(shape):
            return None
        if len(seq) != shape[dim]:
            return f"expected sequence of length {shape[dim]} at dim {dim} (got {len(seq)})"
        for e in seq:
            if isinstance(e, (list, tuple)):
                found = walk(e, dim + 1)
                if found:
                    return found
        return None
    return walk(data, 0) if isinstance(data, (list, tuple)) else None


def tensor(data, dtype=None, requires_grad=False):
    """A new leaf tensor holding a copy of `data` (a number, nested lists, an array or a tensor)."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        dtypes.check_supported(dtype)
    arr = _array(data, dtype)
    if arr.dtype.kind in "iu" and arr.dtype != dtypes.int64 and dtype is None and not isinstance(data, np.ndarray):
        arr = arr.astype(dtypes.int64)
    dtypes.check_supported(arr.dtype)
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def as_tensor(data, dtype=None):
    """Like tensor, but shares the memory of a numpy array when no conversion is needed."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or data.dtype == np.dtype(dtype)):
        dtypes.check_supported(data.dtype)
        return _make(data)
    return tensor(data, dtype=dtype)


def from_numpy(array):
    """A tensor sharing `array`'s memory."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.check_supported(array.dtype)
    return _make(array)


def _factory(fill, shape, dtype, requires_grad):
    dtype = np.dtype(dtypes.default_float if dtype is None else dtype)
    dtypes.check_supported(dtype)
    t = _make(fill(_shape_arg(shape), dtype=dtype))
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*shape, dtype=None, requires_grad=False):
    return _factory(np.zeros, shape, dtype, requires_grad)


def ones(*shape, dtype=None, requires_grad=False):
    return _factory(np.ones, shape, dtype, requires_grad)


def empty(*shape, dtype=None, requires_grad=False):
    return _factory(np.zeros, shape, dtype, requires_grad)


def full(shape, fill_value, dtype=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, (int, np.integer)) and not isinstance(fill_value, bool):
        dtype = dtypes.int64
    return _factory(lambda s, dtype: np.full(s, fill_value, dtype=dtype), (shape,), dtype, requires_grad)


def zeros_like(t, dtype=None, requires_grad=False):
    return zeros(*np.shape(_data(t)), dtype=dtype or _data(t).dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False):
    return ones(*np.shape(_data(t)), dtype=dtype or _data(t).dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, dtype=None, requires_grad=False):
    if end is None:
        start, end = 0, start
    arr = np.arange(start, end, step)
    if dtype is not None:
        arr = arr.astype(dtype)
    elif arr.dtype.kind == "f":
        arr = arr.astype(dtypes.default_float)
    else:
        arr = arr.astype(dtypes.int64)
    t = _make(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _data(t):
    return t.data if isinstance(t, Tensor) else np.asarray(t)


from . import ops  # noqa: E402  (ops needs Tensor; Tensor's methods call ops)
