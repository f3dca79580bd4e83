"""torch.nn.functional's part that the lecture uses, with the lecture's fused backward formulas.

`import tinytape.functional as F` runs the lecture's code: softmax, log_softmax, one_hot, and
cross_entropy as one fused op (exercise 2: dlogits = softmax - one_hot, over n), plus embedding
and batch_norm (exercise 3's one-line formula) for the `nn` layers.
"""
import numpy as np

from . import dtypes, ops
from .ops import _result, forward_sum
from .shapes import norm_dim
from .tensor import Tensor, _make

relu, tanh, sigmoid = ops.relu, ops.tanh, ops.sigmoid


def _softmax(x, axis):
    """exp(x - max) / sum(exp(x - max)): the max shift changes nothing but avoids overflow."""
    with ops._quiet():
        counts = np.exp(x - x.max(axis=axis, keepdims=True))
        return counts / counts.sum(axis=axis, keepdims=True)


def _dim_for(x, dim):
    if dim is None:                                       # torch's legacy implicit choice
        dim = 0 if x.ndim in (0, 1, 3) else 1
    return norm_dim(dim, x.ndim)


def softmax(x, dim=None):
    """softmax along dim: dx = out * (g - (g * out).sum(dim))."""
    data = x.data
    axis = _dim_for(data, dim)
    if axis is None:
        return _result(np.ones_like(data), "softmax", (x,), lambda g: (np.zeros_like(g),))
    if data.shape[axis] == 0:                             # nothing to normalise: empty, as torch
        return _result(data.copy(), "softmax", (x,), lambda g: (np.zeros_like(g),))
    out = _softmax(data, axis)
    return _result(out, "softmax", (x,), lambda g: (out * (g - (g * out).sum(axis=axis, keepdims=True)),))


def log_softmax(x, dim=None):
    """log softmax along dim: dx = g - softmax * g.sum(dim)  (softmax = exp(out))."""
    data = x.data
    axis = _dim_for(data, dim)
    if axis is None:
        return _result(np.zeros_like(data), "log_softmax", (x,), lambda g: (np.zeros_like(g),))
    if data.shape[axis] == 0:
        return _result(data.copy(), "log_softmax", (x,), lambda g: (np.zeros_like(g),))
    with ops._quiet():
        shifted = data - data.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g):
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)
    return _result(out, "log_softmax", (x,), backward)


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
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
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
    """The mean of -log softmax(logits)[i, target_i], as one op. Its backward is exercise 2's formula:
    dlogits = softmax(logits); dlogits[range(n), target] -= 1; dlogits /= n."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    x = input.data
    if x.ndim not in (1, 2):
        raise ValueError(f"cross_entropy takes logits of shape (N, C) or (C,), got {tuple(x.shape)}")
    if x.dtype.kind != "f":
        raise RuntimeError(f"cross_entropy: expected logits of a floating dtype, got {x.dtype}")
    single = x.ndim == 1
    logits = x[None] if single else x
    n, c = logits.shape
    t = _class_targets(target, None if single else n, c, "cross_entropy")
    t = t.reshape(1) if single else t
    rows = np.arange(n)
    with ops._quiet():                                     # inf or nan logits: no warnings, as torch
        shifted = logits - logits.max(axis=1, keepdims=True)
        counts = np.exp(shifted)
        counts_sum = counts.sum(axis=1, keepdims=True)
        losses = np.log(counts_sum[:, 0]) - shifted[rows, t]
    if reduction == "mean" and n == 0:                   # an empty batch: nan, as torch (np.mean warns)
        out = np.float64("nan")
    else:
        out = losses.sum() if reduction == "sum" else losses.mean() if reduction == "mean" else losses
    if single and reduction == "none":
        out = out[0]

    def backward(g):
        dlogits = counts / counts_sum                     # softmax (counts_sum >= 1 or nan: no warning)
        dlogits[rows, t] -= 1
        if reduction == "mean":
            dlogits /= n
            dlogits *= g
        else:
            dlogits *= g if reduction == "sum" else np.reshape(g, (n, 1))
        return (dlogits[0] if single else dlogits,)
    return _result(np.asarray(out, x.dtype), "cross_entropy", (input,), backward)


def nll_loss(input, target, reduction="mean"):
    """-input[i, target_i] averaged: with log_softmax, the same as cross_entropy (in two ops)."""
    x = input.data
    if x.ndim != 2:
        raise ValueError(f"nll_loss takes (N, C) log-probabilities, got {tuple(x.shape)}")
    t = _class_targets(target, x.shape[0], x.shape[1], "nll_loss")
    picked = -ops.getitem(input, (np.arange(x.shape[0]), t))
    return picked.mean() if reduction == "mean" else picked.sum() if reduction == "sum" else picked


def one_hot(tensor, num_classes=-1):
    """An int64 tensor with a 1 at each index (lecture: `F.one_hot(logits.max(1).indices, num_classes=27)`)."""
    idx = tensor.data if isinstance(tensor, Tensor) else np.asarray(tensor)
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
    """weight[input]: rows of a table. dweight is a scatter-add that accumulates repeated rows, in
    the order of the lecture's loop: `for k, j: dC[Xb[k, j]] += demb[k, j]`."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    table = weight.data
    if table.ndim != 2:
        raise RuntimeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got {tuple(table.shape)}")
    if idx.dtype.kind not in "iu":
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have an integer dtype; but got {idx.dtype} instead")
    if _out_of_range(idx, table.shape[0]):
        raise IndexError(f"index out of range in self: embedding indices must be in [0, {table.shape[0] - 1}], "
                         f"got {idx.min() if idx.min() < 0 else idx.max()}")
    out = table[idx]
    shape, dtype = table.shape, table.dtype               # not the table: an SGD update may write it

    def backward(g):
        # np.add.at on flat positions (row * d + column): the lecture's additions in the lecture's
        # order, so the same bits as np.add.at(dweight, idx, g) on rows, 2x (batch 32) to 5x (4096) faster
        dweight = np.zeros(shape, dtype)
        d = shape[1]
        pos = idx.reshape(-1, 1).astype(np.intp, copy=False) * d + np.arange(d)
        np.add.at(dweight.reshape(-1), pos.reshape(-1), g.reshape(-1))
        return (dweight,)
    return _result(out, "embedding", (weight,), backward)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, with torch's weight layout (out_features, in_features)."""
    out = ops.matmul(input, ops.transpose(weight, 0, 1) if weight.ndim == 2 else weight)
    return out if bias is None else ops.add(out, bias)


def mse_loss(input, target, reduction="mean"):
    d = ops.sub(input, target)
    sq = ops.mul(d, d)
    return ops.mean(sq) if reduction == "mean" else ops.sum(sq) if reduction == "sum" else sq


def _stat(t):
    return None if t is None else (t.data if isinstance(t, Tensor) else np.asarray(t))


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, *, unbiased=False):
    """Batch normalisation of an (N, C) input over the batch, as one op in training.

    Training normalises with the batch variance: biased (1/n, torch's default) or, with
    `unbiased=True`, Bessel's 1/(n-1) as the lecture does; the running statistics (if given) are
    updated in place with the unbiased variance, as torch does. Eval normalises with the running
    statistics. The training backward is exercise 3's formula (raw = the normalised input):
      dx = gain*var_inv/n * (n*g - g.sum(0) - n/(n-1)*raw*(g*raw).sum(0))      (unbiased)
      dx = gain*var_inv/n * (n*g - g.sum(0) - raw*(g*raw).sum(0))              (biased)
    """
    x = input.data
    if x.ndim != 2:
        raise ValueError(f"expected 2D input (got {x.ndim}D input)")
    if x.dtype.kind != "f":
        raise NotImplementedError(f'"batch_norm" not implemented for \'{dtypes.TORCH_NAMES.get(x.dtype, x.dtype)}\'')
    n, c = x.shape
    for name, p in (("weight", weight), ("bias", bias), ("running_mean", running_mean), ("running_var", running_var)):
        if p is not None and (p.data.size if isinstance(p, Tensor) else np.size(p)) != c:
            raise RuntimeError(f"batch_norm: {name} should have {c} elements (one per feature), "
                               f"got shape {tuple(np.shape(_stat(p)))}")
        if p is not None and _stat(p).dtype != x.dtype:               # as torch: no silent promotion
            raise RuntimeError(f"mixed dtype (CPU): all inputs must share same datatype. (input is {x.dtype}, "
                               f"{name} is {_stat(p).dtype})")
    if not training:
        rm, rv = _stat(running_mean), _stat(running_var)
        if rm is None or rv is None:
            raise RuntimeError("batch_norm in eval mode needs running_mean and running_var")
        out = ops.mul(ops.sub(input, rm.reshape(1, c)), (rv.reshape(1, c) + eps) ** -0.5)
        if weight is not None:
            out = ops.mul(weight, out)
        return out if bias is None else ops.add(out, bias)
    if n == 1:
        raise ValueError(f"Expected more than 1 value per channel when training, got input size {(n, c)}")
    if n == 0:                                            # as torch: an empty batch, an empty result,
        zero = np.zeros((1, c), x.dtype)                  # zero gradients, statistics left alone
        return _result(np.zeros((0, c), x.dtype), "batch_norm", (input, weight, bias),
                       lambda g: (np.zeros((0, c), zero.dtype), zero, zero))
    gain = 1.0 if weight is None else weight.data.reshape(1, c)
    shift = 0.0 if bias is None else bias.data.reshape(1, c)
    mean = 1 / n * forward_sum(x, 0, True, n)          # the plain x.sum(0) below 1024 rows
    diff = x - mean
    sq = forward_sum(diff**2, 0, True, n)
    var = (1 / (n - 1) if unbiased else 1 / n) * sq
    var_inv = (var + eps) ** -0.5
    raw = diff * var_inv
    out = gain * raw + shift
    out = out.astype(x.dtype, copy=False)

    def backward(g):
        dgain = (raw * g).sum(0, keepdims=True)          # dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
        dshift = g.sum(0, keepdims=True)                 # dbnbias = dhpreact.sum(0, keepdim=True)
        # exercise 3's formula, its two sums g.sum(0) and (g*raw).sum(0) being dshift and dgain
        # (the same numbers, to the bit: not computed twice)
        if unbiased:
            dx = gain*var_inv/n * (n*g - dshift - n/(n-1)*raw*dgain)
        else:
            dx = gain*var_inv/n * (n*g - dshift - raw*dgain)
        return dx, dgain, dshift

    result = _result(out, "batch_norm", (input, weight, bias), backward)
    if running_mean is not None:                         # updated last: an error above changes nothing
        rm = _stat(running_mean)
        rm *= 1 - momentum
        rm += (momentum * mean).reshape(rm.shape).astype(rm.dtype, copy=False)
    if running_var is not None:
        rv = _stat(running_var)
        batch_var = (1 / (n - 1)) * sq
        rv *= 1 - momentum
        rv += (momentum * batch_var).reshape(rv.shape).astype(rv.dtype, copy=False)
    return result


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "one_hot", "embedding", "linear",
           "mse_loss", "batch_norm", "relu", "tanh", "sigmoid"]
