"""All of tinytape's shape logic: summing a gradient back to its input's shape, and dims.

The engine (not the rules) calls `sum_to` on every gradient whose shape differs from its input's:
a value that broadcasting replicated was used several times, so its gradient is the sum of the
copies' gradients (the lecture: "when a value gets used multiple times, we sum up").
"""
import numpy as np

from .errors import broadcast_error, dim_error, expand_error  # noqa: F401  (re-exported)

_sum = np.add.reduce


def sum_to(g, shape):
    """Sum `g` over the dims that broadcasting added or stretched, so that it has `shape`."""
    shape = tuple(shape)
    lead = g.ndim - len(shape)
    if lead:
        if g.shape[:lead] == (1,) * lead:                 # (1, C) -> (C,): nothing to add up
            g = g.reshape(g.shape[lead:])
        else:                                             # (np.add.reduce: ndarray.sum without its wrapper)
            g = _sum(g, 0 if lead == 1 else tuple(range(lead)))
    if g.shape != shape:
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
        if stretched:
            g = _sum(g, stretched[0] if len(stretched) == 1 else stretched, keepdims=True)
    if g.shape != shape:
        raise RuntimeError(f"internal error: gradient of shape {g.shape} does not fit input {tuple(shape)}")
    return g if type(g) is np.ndarray else np.asarray(g)      # a sum to 0-d gives a numpy scalar


def unsqueeze_axes(g, axes, keepdim):
    """g with the reduced axes back as size-1 dims (unless keepdim kept them), ready to broadcast
    over a reduction's input."""
    return g if keepdim else np.expand_dims(g, axes)


def broadcast_dims(out_shape, shape):
    """The dims of `out_shape` that `sum_to` sums away for an input of `shape` (for the tape table)."""
    lead = len(out_shape) - len(shape)
    return tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape) if n == 1 and out_shape[lead + i] != 1)


def norm_dim(dim, ndim):
    """One dim as a non-negative int, torch's error when it is out of range. A 0-d tensor has dim 0/-1."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise dim_error(dim, ndim)
    return int(dim) % n if ndim else None


def norm_dims(dim, ndim):
    """dim=None (all), an int or a sequence of ints, as a tuple of distinct non-negative axes.
    An empty sequence also means all dims, as torch's reductions read it (x.sum(()) is a scalar)."""
    if dim is None:
        return tuple(range(ndim))
    dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    if not dims:
        return tuple(range(ndim))
    axes = tuple(d for d in (norm_dim(d, ndim) for d in dims) if d is not None)
    for a in axes:
        if axes.count(a) > 1:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    return axes
