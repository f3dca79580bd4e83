"""torch.nn.functional's part that the lectures use: `import tinytape.functional as F`.

The torch front of the lecture's fused ops (their math and backward formulas are in fused.py):
torch's argument checks and error texts, then the primitive, then the record. Plus one_hot,
linear, mse_loss and nll_loss, written with the elementary ops.
"""
import math
import warnings

import numpy as np

from . import api, api_more, api_shape, errors, fused, more_ops, ops, printing, random
from . import inplace as inplace_ops
from .api import record
from .quiet import quiet
from .shapes import norm_dim
from .tensor import Tensor, _make

tanh, sigmoid = api.tanh, api.sigmoid


def relu(input, inplace=False):
    return _in_place(api.relu, input) if inplace else api.relu(input)


def _in_place(fn, input):
    """torch's inplace=True: input's values become fn(input) (written through copy_, so that a
    backward sees the new history)."""
    return inplace_ops.copy(input, fn(api.clone(input)))


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


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else api.cast(input, dtype)
    return _normalise(fused.softmax, "SoftmaxBackward0", x, dim)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    x = input if dtype is None else api.cast(input, dtype)
    return _normalise(fused.log_softmax, "LogSoftmaxBackward0", x, dim)


_UNSIGNED = {k: np.dtype(f"u{k}") for k in (1, 2, 4, 8)}


def _out_of_range(idx, n):
    """Whether an integer array holds an index < 0 or >= n, in one pass (read as unsigned, a
    negative index is huge) instead of a min() and a max()."""
    if not idx.size:
        return False
    if idx.dtype.kind == "i":
        idx = idx.view(_UNSIGNED[idx.dtype.itemsize])
    return bool(np.maximum.reduce(idx, axis=None) >= n)


def _class_targets(target, n, c, what, ignore_index=-100, rest=None):
    """Integer class indices as a numpy array, checked against torch's rules (no -1 wrapping;
    ignore_index allowed). n: the batch size (None for (C,) logits); rest: the dims d... of
    (N, C, d...) logits."""
    t = target._data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind not in "iu":
        if rest:
            raise errors.target_dtype(t.dtype)
        raise RuntimeError(f"{what}: expected target of integer dtype (class indices), but got {t.dtype} "
                           f"(class probabilities are not supported)")
    if rest:
        if t.shape != (n,) + rest:
            raise errors.target_size((n,) + rest, t.shape)
    elif t.ndim > 1:
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    elif n is None:                                       # (C,) logits: a 0-d target, or one of size 1
        if t.shape not in ((), (1,)):
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {t.shape[0]}")
    elif t.shape != (n,):
        raise ValueError(f"Expected input batch_size ({n}) to match target batch_size ({t.shape[0] if t.ndim else 0}).")
    if _out_of_range(t, c):
        bad = t[((t < 0) | (t >= c)) & (t != ignore_index)]
        if bad.size:
            raise IndexError(f"Target {bad.flat[0]} is out of bounds.")
    return t


def _loss_name(x, reduction, smoothing=0.0):
    """torch's grad_fn: NllLossBackward0 for (N, C), NllLoss2DBackward0 beyond (a view of it for
    (N, C, d) without reduction), AddBackward0 with label smoothing (a sum of two losses)."""
    if smoothing:
        return "AddBackward0"
    return "NllLossBackward0" if x.ndim == 2 else "ViewBackward0" if x.ndim == 3 and reduction == "none" else \
        "NllLoss2DBackward0"


def _loss(prim, what, input, target, weight, ignore_index, reduction, *statics):
    """The front of cross_entropy and nll_loss: torch's checks, (C,) logits as one row, the primitive."""
    if reduction not in ("mean", "sum", "none"):
        raise errors.reduction(reduction)
    if weight is not None:
        raise NotImplementedError(f"tinytape's {what} has no class weights (weight=)")
    x = input._data
    if x.ndim == 0:
        raise ValueError(f"{what} takes logits of shape (N, C), (C,) or (N, C, d...), got a 0-d tensor")
    if x.dtype.kind != "f":
        raise RuntimeError(f"{what}: expected logits of a floating dtype, got {x.dtype}")
    if x.ndim == 1:                                       # (C,) logits: one row
        t = _class_targets(target, None, x.shape[0], what, ignore_index).reshape(1)
        out = _loss(prim, what, api_shape.unsqueeze(input, 0), _make(t), None, ignore_index, reduction, *statics)
        return api_shape.reshape(out, ()) if reduction == "none" else out
    t = _class_targets(target, x.shape[0], x.shape[1], what, ignore_index, x.shape[2:]).copy()
    with quiet():                                         # inf or nan logits, nothing kept: no warnings, as torch
        return record(*prim(x, t, *statics), prim, _loss_name(x, reduction, *statics[2:]), (input,))


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """-log softmax(logits)[i, target_i] (class dim 1), its mean (over the targets kept) or sum, as
    one op (fused.cross_entropy); label smoothing mixes in the mean loss over all classes."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise errors.label_smoothing(label_smoothing)
    return _loss(fused.cross_entropy, "cross_entropy", input, target, weight, ignore_index, reduction,
                 reduction, ignore_index, float(label_smoothing))


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None, reduction="mean"):
    """-input[i, target_i] (class dim 1), its mean (over the targets kept) or sum: with log_softmax,
    the same as cross_entropy (in two ops)."""
    return _loss(more_ops.nll_loss, "nll_loss", input, target, weight, ignore_index, reduction,
                 ignore_index, reduction)


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
    return record(*fused.embedding(table, idx.copy()), fused.embedding, "EmbeddingBackward0", (weight,))


def linear(input, weight, bias=None):
    """input @ weight.T + bias, with torch's weight layout (out_features, in_features)."""
    out = api.matmul(input, api_shape.t(weight) if weight.ndim == 2 else weight)
    return out if bias is None else api.add(out, bias)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """(input - target)**2, its mean or sum (torch warns when the shapes differ: they broadcast)."""
    if reduction not in ("mean", "sum", "none"):
        raise errors.reduction(reduction)
    if tuple(np.shape(target)) != tuple(np.shape(input)):
        warnings.warn(errors.target_size_warning(printing.Size(np.shape(target)), printing.Size(np.shape(input))),
                      UserWarning, stacklevel=2)
    ta, tb, x, y = api.operands(input, target)
    try:
        out, rule = more_ops.mse_loss(x, y, reduction)
    except ValueError:
        raise errors.broadcast_error(x, y) from None
    return record(out, rule, more_ops.mse_loss, "MseLossBackward0", (ta, tb))


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


# ---------------------------------------------------------------------------------- the later lectures'
gelu = api_more.gelu


def silu(input, inplace=False):
    return _in_place(api_more.silu, input) if inplace else api_more.silu(input)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalisation over the last dims (normalized_shape), as one op (fused.layer_norm)."""
    ns = (normalized_shape,) if isinstance(normalized_shape, (int, np.integer)) else tuple(normalized_shape)
    x = input._data
    k = len(ns)
    if x.shape[x.ndim - k:] != ns or x.ndim < k:
        raise errors.layer_norm_shape(ns, x.shape)
    arrays = []
    for name, p in (("weight", weight), ("bias", bias)):
        a = None if p is None else _stat(p)
        if a is not None and a.shape != ns:
            raise errors.layer_norm_param(name, a.shape, ns)
        if a is not None and a.dtype != x.dtype:
            raise errors.mixed_dtype(x.dtype)
        arrays.append(a)
    if x.dtype.kind != "f":
        raise errors.not_implemented("LayerNormKernelImpl", x.dtype)
    with quiet():
        out, rule = fused.layer_norm(x, *arrays, k, eps)
    return record(out, rule, fused.layer_norm, "NativeLayerNormBackward0", (input, weight, bias))


def dropout(input, p=0.5, training=True, inplace=False):
    """In training, each element zeroed with probability p (torch's random stream: the mask is
    `random.bernoulli_mask(shape, 1 - p)`, as torch's `empty_like(x).bernoulli_(1 - p)`) and the
    rest scaled by 1 / (1 - p); outside training, input itself."""
    if not 0.0 <= p <= 1.0:
        raise errors.dropout_p(p)
    if not training or p == 0 or input._data.size == 0:
        return input
    x = input._data
    if p == 1:
        mask = np.zeros((), x.dtype)
    else:
        mask = random.bernoulli_mask(x.shape, 1 - p, x.dtype)
        mask /= np.asarray(1 - p, x.dtype)                # torch's noise.div_(1 - p), in x's dtype
    return inplace_ops.arithmetic(input, mask, ops.mul) if inplace else api.mul(input, mask)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False):
    """softmax(query @ key^T * scale + mask) @ value, composed of the elementary ops (torch's
    reference): a bool mask keeps where True, a float mask is added; is_causal keeps the lower
    triangle; scale defaults to 1 / sqrt(E)."""
    if attn_mask is not None and is_causal:
        raise RuntimeError(errors.CAUSAL_AND_MASK)
    q, k = query._data, key._data
    if q.ndim < 2 or k.ndim < 2 or q.shape[-1] != k.shape[-1]:
        raise RuntimeError(f"scaled_dot_product_attention: query {list(q.shape)} and key {list(k.shape)} must be at "
                           f"least 2-D with the same embedding size (last dim)")
    scale = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    attn = api.mul(api.matmul(query, api_shape.transpose(key, -2, -1)), scale)
    if is_causal:
        attn = api_more.masked_fill(attn, ~np.tril(np.ones((q.shape[-2], k.shape[-2]), bool)), -np.inf)
    elif attn_mask is not None:
        m = _stat(attn_mask)
        if m.dtype == np.bool_:
            attn = api_more.masked_fill(attn, ~m, -np.inf)
        else:
            attn = api.add(attn, attn_mask)
    attn = softmax(attn, -1)
    if dropout_p > 0:
        attn = dropout(attn, dropout_p)
    return api.matmul(attn, value)


__all__ = ["softmax", "log_softmax", "cross_entropy", "nll_loss", "one_hot", "embedding", "linear",
           "mse_loss", "batch_norm", "relu", "tanh", "sigmoid", "gelu", "silu", "layer_norm", "dropout",
           "scaled_dot_product_attention"]
