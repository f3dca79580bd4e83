"""torch's error texts, in one place, word for word (torch 2.13), and tinytape's own where torch
has none. The front (api.py, inplace.py, indexing.py, creation.py, tensor.py) raises them; the
math never raises.
"""
import re

import numpy as np

from .dtypes import C_NAMES, TORCH_NAMES

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")
LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."
VIEW_OF_LEAF_INPLACE = "a view of a leaf Variable that requires grad is being used in an in-place operation."
OVERLAP = ("unsupported operation: more than one element of the written-to tensor refers to a single memory "
           "location. Please clone() the tensor before performing the operation.")
NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"
IMPLICIT_GRAD = "grad can be implicitly created only for scalar outputs"
NON_LEAF_FLAG = ("you can only change requires_grad flags of leaf variables. If you want to use a computed "
                 "variable in a subgraph that doesn't require differentiation use var_no_grad = var.detach().")
NON_LEAF_ATTR = "you can only change requires_grad flags of leaf variables."
NUMPY_REQUIRES_GRAD = "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
VIEW_STRIDES = ("view size is not compatible with input tensor's size and stride (at least one dimension spans "
                "across two contiguous subspaces). Use .reshape(...) instead.")
FORMAT = "unsupported format string passed to Tensor.__format__"


def name(dt):
    return TORCH_NAMES.get(dt, str(dt))


def modified_inplace(dtype, shape, producer, version, expected):
    """A saved value was written in place after it was saved (torch's version check)."""
    if producer == "CopySlices":                        # torch's C++ node: its name() is qualified
        producer = "torch::autograd::CopySlices"
    of = f", which is output 0 of {re.sub(r'Backward[0-9]*$', '', producer)}," if producer else ""
    return (f"one of the variables needed for gradient computation has been modified by an inplace operation: "
            f"[tinytape.{name(dtype)}Tensor {shape}]{of} is at version {version}; expected version {expected} "
            f"instead. Hint: a value the backward pass needs was overwritten after the forward pass saved it: "
            f"compute out of place (y = x + 1), or run the forward pass again after the update.")


def grad_type(value):
    t = type(value)
    kind = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
    return TypeError(f"assigned grad expected to be a Tensor or None but got grad of type {kind}")


def grad_size(got, want):
    return RuntimeError(f"attempting to assign a gradient of size '{list(got)}' to a tensor of size '{list(want)}'. "
                        f"Please ensure that the gradient and the tensor are the same size")


def grad_dtype(got, want):
    return RuntimeError(f"attempting to assign a gradient with dtype '{C_NAMES.get(got, got)}' to a tensor with "
                        f"grad_dtype '{name(want)}'. The gradient must match the tensor's grad_dtype (defaults to "
                        f"the tensor's dtype).")


def data_type(value):
    t = type(value)
    kind = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
    return TypeError(f"Variable data has to be a tensor, but got {kind}")


def cast_result(got, want):
    return RuntimeError(f"result type {name(got)} can't be cast to the desired output type {name(want)}")


class DeviceError(RuntimeError, AssertionError):
    """A device other than the CPU. torch raises RuntimeError for most devices it lacks, but
    AssertionError ("Torch not compiled with CUDA enabled") for CUDA on a CPU-only build: an
    `except` clause written for either catches this one."""


def device(dev):
    return DeviceError(f"tinytape runs on the CPU only (numpy): device '{dev}' is not available; "
                       f"use 'cpu' or leave device= out")


def dim_error(dim, ndim):
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    return IndexError(f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})")


def broadcast_error(x, y):
    """torch's message for shapes that do not broadcast."""
    a, b = np.shape(x), np.shape(y)
    for i in range(1, max(len(a), len(b)) + 1):
        m = a[-i] if i <= len(a) else 1
        n = b[-i] if i <= len(b) else 1
        if m != n and m != 1 and n != 1:
            dim = max(len(a), len(b)) - i
            return RuntimeError(f"The size of tensor a ({m}) must match the size of tensor b ({n}) "
                                f"at non-singleton dimension {dim}")
    return RuntimeError(f"shapes {a} and {b} cannot be broadcast")


def inplace_shape(shape, broadcast):
    return RuntimeError(f"output with shape {list(shape)} doesn't match the broadcast shape {list(broadcast)}")


def expand_error(shape, target, type_name="Float"):
    """torch's message when a tensor of `shape` cannot be expanded to `target` (expand, x[i] = v)."""
    shape, target = tuple(shape), tuple(target)
    if len(shape) > len(target):
        return RuntimeError(f"expand(torch.{type_name}Tensor{{{list(shape)}}}, size={list(target)}): the number "
                            f"of sizes provided ({len(target)}) must be greater or equal to the number of "
                            f"dimensions in the tensor ({len(shape)})")
    lead = len(target) - len(shape)
    for i, n in enumerate(shape):
        if n != 1 and n != target[lead + i]:
            return RuntimeError(f"The expanded size of the tensor ({target[lead + i]}) must match the existing "
                                f"size ({n}) at non-singleton dimension {lead + i}.  Target sizes: "
                                f"{list(target)}.  Tensor sizes: {list(shape)}")
    return RuntimeError(f"cannot expand a tensor of shape {list(shape)} to {list(target)}")


def bool_sub(both):
    if both:
        return RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                            "Use the `^` or `logical_xor()` operator instead.")
    return RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. If you "
                        "are trying to invert a mask, use the `~` or `logical_not()` operator instead.")


# ---------------------------------------------------------------------------------- the later lectures' ops
ZERO_DIVISION = "ZeroDivisionError"                       # an integer // or % by 0
INVERT = "~ (operator.invert) is only implemented on integer and Boolean-type tensors"
TOPK_RANGE = "selected index k out of range"
REPEAT_DIMS = "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor"
CAUSAL_AND_MASK = "_scaled_dot_product_attention: Explicit attn_mask should not be set when is_causal=True"
GELU_APPROXIMATE = "approximate argument must be either none or tanh."


def not_implemented(kernel, dt):
    return NotImplementedError(f"\"{kernel}\" not implemented for '{name(dt)}'")


def no_derivative(op):
    return RuntimeError(f"derivative for aten::{op} is not implemented")


def must_be_tensor(fn, arg, position, value):
    return TypeError(f"{fn}(): argument '{arg}' (position {position}) must be Tensor, not {type(value).__name__}")


def masked_fill_mask(dt):
    return RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {C_NAMES.get(dt, dt)}")


def masked_fill_value(ndim):
    return RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with {ndim} "
                        f"dimension(s).")


def split_sizes(n, axis, sizes):
    return RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size at "
                        f"dimension {axis}), but got split_sizes={sizes}")


def split_size(n, size):
    return RuntimeError(f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}" if size == 0
                        else f"split expects split_size be non-negative, but got split_size={size}")


def roll_align(shifts, dims):
    return RuntimeError(f"shifts and dimensions must align. shifts: {shifts}, dims:{dims}")


def vector_norm_dtype(dt):
    return RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as input. Got {name(dt)}")


def empty_reduction(fn, axis):
    return IndexError(f"{fn}(): Expected reduction dim {axis} to have non-zero size.")


def reduction(value):
    return ValueError(f"{value} is not a valid value for reduction")


def layer_norm_shape(ns, shape):
    return RuntimeError(f"Given normalized_shape={list(ns)}, expected input with shape [*, {', '.join(map(str, ns))}], "
                        f"but got input of size{list(shape)}")


def layer_norm_param(param, shape, ns):
    return RuntimeError(f"Expected {param} to be of same shape as normalized_shape, but got {param} of shape "
                        f"{list(shape)} and normalized_shape = {list(ns)}")


def mixed_dtype(dt):
    return RuntimeError(f"mixed dtype (CPU): expect parameter to have scalar type of {name(dt)}")


def dropout_p(p):
    return ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def label_smoothing(value):
    return RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {value}")


def target_size(expected, got):
    return RuntimeError(f"Expected target size {list(expected)}, got {list(got)}")


def target_dtype(dt):
    return RuntimeError(f"expected target dtype to be Long or Byte, but got {name(dt)}")


def target_size_warning(target, input):
    """torch's UserWarning when mse_loss's shapes differ (they broadcast); sizes as printed Sizes."""
    return (f"Using a target size ({target}) that is different to the input size ({input}). This will likely lead "
            f"to incorrect results due to broadcasting. Please ensure they have the same size.")


def at_least_2d(fn):
    return RuntimeError(f"{fn}: input tensor must have at least 2 dimensions")


SPLIT_0D = "split expects at least a 1-dimensional tensor"


def chunks(n):
    return RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {n}")


def negative_dimension(sizes):
    return RuntimeError(f"Trying to create tensor with negative dimension {min(sizes)}: {list(sizes)}")


def norm_order(p):
    return NotImplementedError(f"tinytape's norm supports p > 0 and 'fro' (got {p!r})")


def typename(obj):
    """torch.typename, as torch's messages name things: 'tinytape.FloatTensor' for a tensor, else the
    module-qualified class name."""
    if hasattr(obj, "_data") and hasattr(obj, "type") and not isinstance(obj, type):
        return obj.type()
    module = getattr(obj, "__module__", "") or ""
    if hasattr(obj, "__qualname__"):
        qualname = obj.__qualname__
    elif hasattr(obj, "__name__"):
        qualname = obj.__name__
    else:
        module = obj.__class__.__module__ or ""
        qualname = obj.__class__.__qualname__
    return qualname if module in ("", "builtins") else f"{module}.{qualname}"
