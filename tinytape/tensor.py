"""The Tensor: a numpy array (`_data`), its gradient, its node, its version, and thin methods.

As in torch, `.data` and `.grad` are tensors: `.data` shares memory (and the version counter)
with the tensor and is outside the graph; `.grad` is None or a tensor of the same shape. Every
method that computes is a thin call into the front (api.py, api_shape.py, inplace.py), where the
torch rules live; the math is in ops.py.
"""
import numpy as np

from . import dtypes, errors, printing, tape
from .device import CPU, check as _device, device as device_type
from .tensor_methods import TensorMethods, _correction, _shape_arg  # noqa: F401  (used by creation, random)

_new_object = object.__new__
_Size = printing.Size
_size = tuple.__new__


def _make(data):
    """Wrap a numpy result as a tensor that does not require grad (the hot path: no checks)."""
    t = _new_object(Tensor)
    t._data = data if type(data) is np.ndarray else np.asarray(data)
    t._grad = None
    t._rg = False
    t._node = None
    t._ver = [0]
    t._view = None
    return t


def _alias(t):
    """A tensor on t's memory and version counter, outside the graph (.data, detach())."""
    a = _make(t._data)
    a._ver = t._ver
    return a


def _view_of(out, base, fn):
    """Make `out` a view of `base` (fn(base array) reads it): one memory, one version counter."""
    root = base._view[0] if base._view is not None else base
    if base._view is not None:
        inner = base._view[1]
        read = lambda a: fn(inner(a))                   # noqa: E731
    else:
        read = fn
    out._ver = base._ver
    out._view = (root, read, out._ver[0])


class Tensor(TensorMethods):
    __slots__ = ("_data", "_grad", "_rg", "_node", "_ver", "_view", "__weakref__")
    __array_priority__ = 1000       # `ndarray * Tensor` defers to Tensor.__rmul__, as torch's
    __hash__ = object.__hash__      # __eq__ is elementwise, identity stays hashable

    def __new__(cls, *args, dtype=None, device=None, requires_grad=False):
        """torch.Tensor(data) is float32 (the default dtype); torch.Tensor(2, 3) is a shape."""
        from .creation import empty, tensor
        _device(device)
        if not args:
            t = empty(0)
        elif all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in args):
            t = empty(*args)
        elif len(args) == 1:
            t = tensor(args[0], dtype=dtypes.default_float() if dtype is None else dtype)
        else:
            raise TypeError("tinytape.Tensor() takes one data argument or the sizes of its dims")
        if cls is not Tensor:
            sub = _new_object(cls)
            for k in Tensor.__slots__[:-1]:
                setattr(sub, k, getattr(t, k))
            t = sub
        if requires_grad:
            t.requires_grad_(True)
        return t

    # ------------------------------------------------------------------ data, grad, flags
    @property
    def data(self):
        """The same memory, outside the graph, with a version counter of its own: writes through
        .data are not tracked, as in torch (detach() shares the counter)."""
        return _make(self._data)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise errors.data_type(value)
        self._data = value._data

    @property
    def grad(self):
        g = self._grad
        if g is not None and type(g) is np.ndarray:       # kept as an array until asked for
            g = self._grad = _make(g)
        return g

    @grad.setter
    def grad(self, g):
        if g is not None:
            if not isinstance(g, Tensor):
                raise errors.grad_type(g)
            if g._data.shape != self._data.shape:
                raise errors.grad_size(g._data.shape, self._data.shape)
            if g._data.dtype != self._data.dtype:
                raise errors.grad_dtype(g._data.dtype, self._data.dtype)
        self._grad = g

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def requires_grad(self):
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag):
        if self._node is not None and flag:
            raise RuntimeError(errors.NON_LEAF_ATTR)
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        """Only ops recorded after this see the flag, as in torch."""
        flag = bool(requires_grad)
        if self._node is not None:
            if flag:
                return self
            raise RuntimeError(errors.NON_LEAF_FLAG)
        if flag and self._data.dtype not in dtypes.FLOATS:
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._rg = flag
        return self

    @property
    def is_leaf(self):
        return self._node is None

    @property
    def grad_fn(self):
        """The node that made this tensor (None for a leaf): `.name()`, `.next_functions`."""
        if self._view is not None and self._view[2] != self._ver[0]:
            tape.refresh_view(self)
        return self._node

    @property
    def _version(self):
        return self._ver[0]

    @property
    def _base(self):
        return None if self._view is None else self._view[0]

    def _is_view(self):
        return self._view is not None

    def retain_grad(self):
        """Accepted for ported code: every intermediate that takes part in backward keeps its .grad."""
        if not self._rg:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")

    def backward(self, gradient=None, retain_graph=None):
        if not self._rg:
            raise RuntimeError(errors.NO_GRAD_FN)
        if gradient is None:
            if self._data.size != 1:
                raise RuntimeError(errors.IMPLICIT_GRAD)
            seed = np.ones(self._data.shape, self._data.dtype)
        else:
            g = gradient._data if isinstance(gradient, Tensor) else np.asarray(gradient)
            if g.shape != self._data.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[0] has a shape of {tuple(g.shape)} "
                                   f"and output[0] has a shape of {tuple(self._data.shape)}.")
            if g.dtype.kind not in "fiub":
                raise TypeError(f"gradient must be a real array, got dtype {g.dtype}")
            seed = np.array(g, dtype=self._data.dtype)    # a copy: the caller's array stays theirs
        tape.backward(self, seed, bool(retain_graph))

    def detach(self):
        """The same memory and version counter, outside the graph."""
        return _alias(self)

    def detach_(self):
        self._node = None
        self._rg = False
        return self

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self):
        return _size(_Size, self._data.shape)         # numpy's shape is ints already: no checks

    ndim = property(lambda self: self._data.ndim)
    dtype = property(lambda self: dtypes.of(self._data.dtype))
    T = property(lambda self: api_shape.permute(self, tuple(range(self._data.ndim))[::-1]))
    mT = property(lambda self: api_shape.transpose(self, -2, -1))
    device = property(lambda self: CPU)
    is_cuda = False

    def size(self, dim=None):
        if dim is None:
            return _size(_Size, self._data.shape)
        from .shapes import norm_dim
        return self._data.shape[norm_dim(dim, self._data.ndim)] if self._data.ndim else 1

    def dim(self):
        return self._data.ndim

    ndimension = dim

    def nelement(self):
        return self._data.size

    numel = nelement

    def element_size(self):
        return self._data.itemsize

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def is_contiguous(self):
        return self._data.flags.c_contiguous

    def stride(self, dim=None):
        s = tuple(b // self._data.itemsize for b in self._data.strides)
        return s if dim is None else s[dim]

    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted to Scalar")
        return self._data.item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, *, force=False):
        if self._rg and not force:
            raise RuntimeError(errors.NUMPY_REQUIRES_GRAD)
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """to(dtype), to('cpu'), to(device, dtype), to(other_tensor), to(device=..., dtype=...)."""
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, (str, device_type)):
                device = a
            else:
                dtype = a
        _device(device)
        out = self if dtype is None else api.cast(self, dtype)
        return api.clone(out) if copy and out is self else out

    def cpu(self):
        return self

    def cuda(self, *args, **kwargs):
        raise errors.device("cuda")

    def type(self, dtype=None):
        if dtype is None:
            return f"tinytape.{errors.name(self._data.dtype)}Tensor"
        return api.cast(self, dtype)

    def float(self): return api.cast(self, dtypes.F32)
    def double(self): return api.cast(self, dtypes.F64)
    def long(self): return api.cast(self, dtypes.I64)
    def int(self): return api.cast(self, np.int32)
    def bool(self): return api.cast(self, dtypes.BOOL)
    def half(self): raise TypeError("tinytape does not support float16")

    def contiguous(self):
        return api.contiguous(self)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return len(self._data)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self._data)))

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data)

    def __float__(self): return float(self.item())
    def __int__(self): return int(self.item())

    def __index__(self):
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.item())

    def __repr__(self):
        node = self.grad_fn
        return printing.tensor_str(self._data, requires_grad=self._rg, grad_fn=node and _short(node._name),
                                   get_default_dtype=dtypes.default_float)

    __str__ = __repr__

    def __format__(self, spec):
        node = self._node
        return printing.format_scalar(self._data, spec, requires_grad=self._rg, grad_fn=node and _short(node._name),
                                      get_default_dtype=dtypes.default_float)

    def __reduce__(self):
        return (_rebuild, (self._data.copy(), self._rg))

    # ------------------------------------------------------------------ operators
    def __add__(self, o): return _op(api.add, self, o)
    def __radd__(self, o): return _op(api.add, o, self)
    def __sub__(self, o): return _op(api.sub, self, o)
    def __rsub__(self, o): return _op(api.sub, o, self)
    def __mul__(self, o): return _op(api.mul, self, o)
    def __rmul__(self, o): return _op(api.mul, o, self)
    def __truediv__(self, o): return _op(api.div, self, o)
    def __rtruediv__(self, o): return _op(api.div, o, self)
    def __matmul__(self, o): return _op(api.matmul, self, o)
    def __rmatmul__(self, o): return _op(api.matmul, o, self)
    def __pow__(self, exponent): return api.pow(self, exponent)
    def __rpow__(self, base): return api.rpow(self, base)
    def __neg__(self): return api.neg(self)
    def __pos__(self): return self
    def __abs__(self): return api.abs(self)

    # in place: recorded as torch records them (inplace.py)
    def __iadd__(self, o): return _op(inplace.arithmetic, self, o, ops.add)
    def __isub__(self, o): return _op(inplace.arithmetic, self, o, ops.sub)
    def __imul__(self, o): return _op(inplace.arithmetic, self, o, ops.mul)
    def __itruediv__(self, o): return _op(inplace.arithmetic, self, o, ops.div)
    def __setitem__(self, index, value): inplace.setitem(self, index, value)
    def __getitem__(self, index): return api_shape.getitem(self, index)

    # comparisons give bool tensors and are not recorded
    def __eq__(self, o): return _op(api.compare, self, o, np.equal)
    def __ne__(self, o): return _op(api.compare, self, o, np.not_equal)
    def __lt__(self, o): return _op(api.compare, self, o, np.less)
    def __le__(self, o): return _op(api.compare, self, o, np.less_equal)
    def __gt__(self, o): return _op(api.compare, self, o, np.greater)
    def __ge__(self, o): return _op(api.compare, self, o, np.greater_equal)


def _op(fn, a, b, *extra):
    """An operator method: an operand that is not a tensor, number or array gives NotImplemented,
    so that Python raises its TypeError naming both types, as torch's operators do."""
    try:
        return fn(a, b, *extra)
    except api.NotAnOperand:
        return NotImplemented


def _short(name):
    """A grad_fn as a tensor prints it: `torch::autograd::CopySlices` is `CopySlices`, as in torch."""
    return name.rpartition("::")[2]


def _rebuild(data, requires_grad):
    return _make(data).requires_grad_(requires_grad) if requires_grad else _make(data)


from . import api, api_shape, inplace, ops  # noqa: E402  (the front needs Tensor; the operators call it)
