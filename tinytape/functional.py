"""torch.nn.functional's part that the lectures use: `import tinytape.functional as F`.

The torch front of the lecture's fused ops (their math and backward formulas are in fused.py):
torch's argument checks and error texts, then the primitive, then the record. Plus one_hot,
linear, mse_loss and nll_loss, written with the elementary ops.
"""
import numpy as np

from . import api, api_shape, dtypes, errors, fused
from .api import record
from .quiet import quiet
from .shapes import norm_dim
from .tensor import Tensor, _make

relu, tanh, sigmoid = api.relu, api.tanh, api.sigmoid


def _dim_for(x, dim):
    if dim is None:                                       # torch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return norm_dim(dim, x.ndim)


def _normalise(prim, name, x, dim):
    data = x._data
    axis = _dim_for(data, dim)
    if axis is None or data.shape[axis] == 0:            # 0-d: softmax 1, log_softmax 0; empty: empty
        value = np.ones_like(data) if prim is fused.softmax and axis is None else \
            np.zeros_like(data) if axis is None else data.copy()
        return record(value, lambda g: (np.zeros_like(g),), prim, name, (x,))
    with quiet():
        return record(*prim(data, axis), prim, name, (x,))


def softmax(input, dim=None):
    return _normalise(fused.softmax, "SoftmaxBackward0", input, dim)


def log_softmax(input, dim=None):
    return _normalise(fused.log_softmax, "LogSoftmaxBackward0", input, dim)


_UNSIGNED = {k: np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


def _out_of_range(idx, n):
    """Whether an integer array holds an index < 0 or >= n, in one pass (read as unsigned, a
    negative index is huge) instead of a min() and a max()."""
    if not idx.size:
        return False
    if idx.dtype.kind == "i":
        idx = idx.view(_UNSIGNED[idx.dtype.itemsize])
    return bool(np.maximum.reduce(idx, axis=None) >= n)


def _class_targets(target, n, c, what):
    """Integer class indices as a numpy array, checked against torch's rules (no -1 wrapping)."""
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        raise RuntimeError(f"{what}: expected target of integer dtype (class indices), but got {t.dtype} "
                           f"(class probabilities are not supported)")
    if t.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if n is None:                                         # (C,) logits: a 0-d target, or one of size 1
        if t.shape not in ((), (1,)):
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {t.shape[0]}")
    elif t.shape != (n,):
        raise ValueError(f"Expected input batch_size ({n}) to match target batch_size ({t.shape[0] if t.ndim else 0}).")
    if _out_of_range(t, c):
        bad = t[(t < 0) | (t >= c)].flat[0]
        raise IndexError(f"Target {bad} is out of bounds.")
    return t


def cross_entropy(input, target, reduction="mean"):
    """The mean of -log softmax(logits)[i, target_i], as one op (fused.cross_entropy)."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    x = input._data
    if x.ndim not in (1, 2):
        raise ValueError(f"cross_entropy takes logits of shape (N, C) or (C,), got {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: expected logits of a floating dtype, got {x.dtype}")
    if x.ndim == 1:                                       # (C,) logits: one row
        t = _class_targets(target, None, x.shape[0], "cross_entropy").reshape(1)
        out = cross_entropy(api_shape.unsqueeze(input, 0), _make(t), reduction)
        return api_shape.reshape(out, ()) if reduction == "none" else out
    t = _class_targets(target, x.shape[0], x.shape[1], "cross_entropy").copy()
    with quiet():                                         # inf or nan logits: no warnings, as torch
        return record(*fused.cross_entropy(x, t, reduction), fused.cross_entropy, "NllLossBackward0", (input,))


def nll_loss(input, target, reduction="mean"):
    """-input[i, target_i] averaged: with log_softmax, the same as cross_entropy (in two ops)."""
    x = input._data
    if x.ndim != 2:
        raise ValueError(f"nll_loss takes (N, C) log-probabilities, got {tuple(x.shape)}")
    t = _class_targets(target, x.shape[0], x.shape[1], "nll_loss")
    picked = -api_shape.getitem(input, (np.arange(x.shape[0]), t))
    return picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum" else picked


def one_hot(tensor, num_classes=-1):
    """An int64 tensor with a 1 at each index (lecture: `F.one_hot(logits.max(1).indices, num_classes=27)`)."""
    idx = tensor._data if isinstance(tensor, Tensor) else np.asarray(tensor)
    if idx.dtype.kind not in "iu":
        raise RuntimeError("one_hot is only applicable to index tensor of integer dtype.")
    if idx.size and idx.min() < 0:
        raise RuntimeError("Class values must be non-negative.")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and idx.max() >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return _make((idx[..., None] == np.arange(num_classes)).astype(np.int64))


def embedding(input, weight):
    """weight[input]: rows of a table (fused.embedding)."""
    idx = input._data if isinstance(input, Tensor) else np.asarray(input)
    table = weight._data
    if table.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {tuple(table.shape)}")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have an integer dtype; but got "
                           f"{idx.dtype} instead")
    if _out_of_range(idx, table.shape[0]):
        raise IndexError(f"index out of range in self: embedding indices must be in [0, {table.shape[0] - 1}], "
                         f"got {idx.min() if idx.min() < 0 else idx.max()}")
    out, rule = fused.embedding(table, idx.copy())
    rows = (idx.size, table.shape[1])                     # the rule scatters (N, d) rows: an index of
    return record(out, lambda g: rule(np.reshape(g, rows)), fused.embedding, "EmbeddingBackward0",
                  (weight,))                              # any shape gives g of shape idx.shape + (d,)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, with torch's weight layout (out_features, in_features)."""
    out = api.matmul(input, api_shape.t(weight) if weight.ndim == 2 else weight)
    return out if bias is None else api.add(out, bias)


def mse_loss(input, target, reduction="mean"):
    d = api.sub(input, target)
    sq = api.mul(d, d)
    return api_shape.mean(sq) if reduction == "mean" else api_shape.sum(sq) if reduction == "sum" else sq


def _stat(t):
    return None if t is None else (t._data if isinstance(t, Tensor) else np.asarray(t))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, *, unbiased=False):
    """Batch normalisation of an (N, C) input over the batch, as one op in training (fused.py).

    Training normalises with the batch variance: biased (1/n, torch's default) or, with
    `unbiased=True`, Bessel's 1/(n-1) as the lecture does; the running statistics (if given) are
    updated in place with the unbiased variance, as torch does. Eval normalises with the running
    statistics, in elementary ops."""
    x = input._data
    if x.ndim != 2:
        raise ValueError(f"expected 2D input (got {x.ndim}D input)")
    if x.dtype.kind != "f":
        raise NotImplementedError(f'"batch_norm" not implemented for \'{errors.name(x.dtype)}\'')
    n, c = x.shape
    for name, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if p is not None and _stat(p).size != c:
            raise RuntimeError(f"batch_norm: {name} should have {c} elements (one per feature), "
                               f"got shape {tuple(np.shape(_stat(p)))}")
        if p is not None and _stat(p).dtype != x.dtype:               # as torch: no silent promotion
            raise RuntimeError(f"mixed dtype (CPU): all inputs must share same datatype. (input is {x.dtype}, "
                               f"{name} is {_stat(p).dtype})")
    if not training:
        rm, rv = _stat(running_mean), _stat(running_var)
        if rm is None or rv is None:
            raise RuntimeError("batch_norm in eval mode needs running_mean and running_var")
        out = api.mul(api.sub(input, rm.reshape(1, c)), (rv.reshape(1, c) + eps) ** -0.5)
        if weight is not None:
            out = api.mul(weight, out)
        return out if bias is None else api.add(out, bias)
    if n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {(n, c)}")
    if n == 0:                                            # as torch: an empty batch, an empty result,
        zero = np.zeros((1, c), x.dtype)                  # zero gradients, statistics left alone
        return record(np.zeros((0, c), x.dtype), lambda g: (np.zeros((0, c), zero.dtype), zero, zero),
                      fused.batch_norm, "NativeBatchNormBackward0", (input, weight, bias))
    w = None if weight is None else weight._data.reshape(1, c)
    b = None if bias is None else bias._data.reshape(1, c)
    (out, mean, batch_var), rule = fused.batch_norm(x, w, b, eps, unbiased)
    result = record(out, rule, fused.batch_norm, "NativeBatchNormBackward0", (input, weight, bias))
    for stat, value in ((running_mean, mean), (running_var, batch_var)):
        if stat is not None:                              # updated last: an error above changes nothing
            s = _stat(stat)
            s *= 1 - momentum
            s += (momentum * value).reshape(s.shape).astype(s.dtype, copy=False)
            if isinstance(stat, Tensor):
                stat._ver[0] += 1
    return result


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "one_hot", "embedding", "linear",
           "mse_loss", "batch_norm", "relu", "tanh", "sigmoid"]
