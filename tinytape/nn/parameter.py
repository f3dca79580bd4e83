"""torch.nn.Parameter (and Buffer): a Tensor that a Module registers when it is assigned as an
attribute. A parameter is a leaf that requires grad by default; it shares memory (and the version
counter) with the tensor it was made from, as torch's does; every op on it gives a plain Tensor."""
import tinytape as _tt

_SLOTS = ("_data", "_grad", "_rg", "_node", "_ver", "_view")


class Parameter(_tt.Tensor):
    """Parameter(data=None, requires_grad=True): `data` as a leaf parameter (no copy)."""

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = _tt.empty(0)
        if not isinstance(data, _tt.Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        if requires_grad and not data.is_floating_point():
            raise RuntimeError("Only Tensors of floating point and complex dtype can require gradients")
        src = data.detach()                               # same memory and version, outside the graph
        p = object.__new__(cls)
        for k in _SLOTS:
            object.__setattr__(p, k, getattr(src, k))
        p._view = None
        p._grad = None
        p.requires_grad_(bool(requires_grad))
        return p

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo):
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce__(self):
        return (_rebuild_parameter, (self._data.copy(), self._rg))


def _rebuild_parameter(array, requires_grad):
    return Parameter(_tt.from_numpy(array), requires_grad)


class Buffer(_tt.Tensor):
    """torch.nn.Buffer: assigning `Buffer(t)` as a module attribute registers t as a buffer
    (persistent unless persistent=False). What is registered is the plain tensor."""

    def __new__(cls, data=None, *, persistent=True):
        if data is None:
            data = _tt.empty(0)
        src = data.detach()
        b = object.__new__(cls)
        for k in _SLOTS:
            object.__setattr__(b, k, getattr(src, k))
        b._view = None
        b._grad = None
        b._rg = bool(data.requires_grad)
        b.persistent = persistent
        return b
