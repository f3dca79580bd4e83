"""How tensors print: torch 2.13's `repr(t)` / `str(t)`, `format(t, spec)`, print options and torch.Size.

A learner compares what the lecture's notebook shows with what their own run shows, so this
module reproduces torch 2.13's `torch/_tensor_str.py` character for character for the dense CPU
tensors tinytape has (float32, float64, int64, int32, int16, int8, uint8, bool), with `tinytape.`
where torch writes `torch.`:

    tensor([[ 0.1940,  2.1614, -0.1721],
            [ 0.8491, -1.9244,  0.6530]], requires_grad=True)

The rules, as torch's (all of them live in `_Formatter` and `tensor_str` below):

- One formatter for the whole tensor picks a single style and a single column width from the
  nonzero finite values (only the printed ones when the tensor is summarized):
  * int mode, when every such value is a whole number: `1.`, `-3.`, `0.` (nan and inf get no dot);
  * scientific mode, when max|x| / min|x| > 1000, max|x| > 1e8 or min|x| < 1e-4 (or as forced
    by `set_printoptions(sci_mode=...)`): `1.2346e+05`;
  * otherwise fixed point with `precision` decimals (4): `0.1235`.
  Integer and bool tensors print their values (`True`/`False` for bool), right-aligned too.
- Rows wrap at `linewidth` (80) and nested rows are indented under `tensor(`; a tensor of more
  than `threshold` (1000) elements is summarized to its first and last `edgeitems` (3) entries
  along every dimension, with `...` between them.
- Suffixes after the values: `size=(0, 3)` for empty tensors that are not 1-D, the dtype when it
  is not float32 (the default float dtype), int64 or bool (an empty tensor shows any dtype but
  the default float one), then `grad_fn=<MulBackward0>` or else `requires_grad=True`. A suffix
  that would pass `linewidth` goes on its own line.

The options are global, as torch's: `set_printoptions`, `get_printoptions` and the `printoptions`
context manager. `format_scalar` is `Tensor.__format__` (`f"{loss:.4f}"`), and `Size` is
torch.Size. This module knows nothing of Tensor: it formats numpy arrays and the caller passes
what else a repr shows (requires_grad, the grad_fn's name, the default dtype).
"""
import contextlib
import math
import operator

import numpy as np

__all__ = ["tensor_str", "format_scalar", "set_printoptions", "get_printoptions", "printoptions", "Size"]

PREFIX = "tensor("


# ---------------------------------------------------------------------------------------------
# Print options (torch's PRINT_OPTS)

_DEFAULTS = {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80, "sci_mode": None}
_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}
_opts = dict(_DEFAULTS)


def set_printoptions(precision=None, threshold=None, edgeitems=None, linewidth=None, profile=None,
                     sci_mode=None):
    """Set options for printing tensors, as torch.set_printoptions.

    precision: digits after the decimal point (default 4). threshold: more elements than this
    print summarized (default 1000). edgeitems: items kept at each end of every dimension when
    summarized (default 3). linewidth: characters per line before wrapping (default 80).
    profile: "default", "short" (precision 2, edgeitems 2) or "full" (no summarizing), applied
    first; any other name is ignored, as in torch. sci_mode: True or False forces scientific
    notation on or off; None (the default) lets each tensor choose. As in torch, every call
    sets sci_mode, so a call that does not pass it turns it back to None.
    """
    if profile is not None and profile in _PROFILES:
        _opts.update(_PROFILES[profile])
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            _opts[name] = value
    _opts["sci_mode"] = sci_mode


def get_printoptions():
    """The current print options, as a dict that `set_printoptions(**options)` accepts."""
    return dict(_opts)


@contextlib.contextmanager
def printoptions(**kwargs):
    """Within the block, print with `set_printoptions(**kwargs)`; the old options come back after."""
    old = get_printoptions()
    set_printoptions(**kwargs)
    try:
        yield
    finally:
        set_printoptions(**old)


# ---------------------------------------------------------------------------------------------
# The formatter: one style and one width for every element of a tensor

class _Formatter:
    """torch's _Formatter: chooses the style from `values` (the elements that will be printed)."""

    def __init__(self, values):
        precision = _opts["precision"]
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1

        flat = values.reshape(-1)
        if not self.floating:
            for value in flat.tolist():                      # ints, or True/False
                self.width = max(self.width, len(f"{value}"))
            return

        shown = flat[np.isfinite(flat) & (flat != 0)]
        if shown.size == 0:                                  # only zeros, nan and inf: int mode
            return
        magnitudes = np.abs(shown).astype(np.float64)
        smallest, largest = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(shown == np.ceil(shown)))
        if _opts["sci_mode"] is None:
            self.sci_mode = largest / smallest > 1000.0 or largest > 1.0e8 or smallest < 1.0e-4
        else:
            self.sci_mode = _opts["sci_mode"]

        for value in shown.tolist():
            if self.sci_mode:
                text = f"{value:.{precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}" + "."
            else:
                text = f"{value:.{precision}f}"
            self.width = max(self.width, len(text))

    def format(self, value):
        """One element (a Python number from .tolist()), right-aligned to the common width."""
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.width}.{_opts['precision']}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."
        else:
            text = f"{value:.{_opts['precision']}f}"
        return text.rjust(self.width)


# ---------------------------------------------------------------------------------------------
# The values: nested brackets, wrapped rows, summaries

def _summarized(array):
    """The elements a summarized print shows (torch's get_summarized_data): the first and last
    `edgeitems` along every dimension that has more than twice that many."""
    edge = _opts["edgeitems"]
    if array.ndim == 0:
        return array
    if array.ndim == 1:
        if array.shape[0] > 2 * edge:
            return np.concatenate((array[:edge], array[-edge:]))   # with edge 0: all of it, as torch
        return array
    if not edge:
        return np.empty((0,) * array.ndim, array.dtype)
    if array.shape[0] > 2 * edge:
        rows = list(range(edge)) + list(range(len(array) - edge, len(array)))
    else:
        rows = range(len(array))
    return np.stack([_summarized(array[i]) for i in rows])


def _vector_str(array, indent, summarize, formatter):
    edge = _opts["edgeitems"]
    element_length = formatter.width + 2                       # the element, a comma and a space
    per_line = max(1, math.floor((_opts["linewidth"] - indent) / element_length))

    if summarize and not edge:
        items = ["..."]
    elif summarize and array.shape[0] > 2 * edge:
        items = ([formatter.format(v) for v in array[:edge].tolist()] + [" ..."]
                 + [formatter.format(v) for v in array[-edge:].tolist()])
    else:
        items = [formatter.format(v) for v in array.tolist()]

    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(array, indent, summarize, formatter):
    if array.ndim == 0:
        return formatter.format(array.item())
    if array.ndim == 1:
        return _vector_str(array, indent, summarize, formatter)

    edge = _opts["edgeitems"]
    if summarize and array.shape[0] > 2 * edge:
        parts = ([_nested_str(array[i], indent + 1, summarize, formatter) for i in range(edge)] + ["..."]
                 + [_nested_str(array[i], indent + 1, summarize, formatter)
                    for i in range(len(array) - edge, len(array))])
    else:
        parts = [_nested_str(row, indent + 1, summarize, formatter) for row in array]
    # sub-blocks of a 3-D tensor are separated by one blank line, of a 4-D tensor by two, ...
    return "[" + ("," + "\n" * (array.ndim - 1) + " " * (indent + 1)).join(parts) + "]"


def _values_str(array, indent):
    if array.size == 0:
        return "[]"
    summarize = array.size > _opts["threshold"]
    formatter = _Formatter(_summarized(array) if summarize else array)
    return _nested_str(array, indent, summarize, formatter)


def _add_suffixes(text, suffixes, indent):
    """Append `, suffix` for each suffix, starting a new line when it would pass linewidth.

    The line breaks are torch's own, for the same output with `tinytape.` for `torch.`: lengths
    are counted as torch counts them, with torch's names (`dtype=torch.float64`, 3 characters
    shorter) and torch's line length, which counts 2 more than the last line has.
    """
    def torch_length(suffix):
        return len(suffix) - (len("tinytape.") - len("torch.")) * suffix.count("tinytape.")

    pieces = [text]
    line_length = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_length + torch_length(suffix) + 2 > _opts["linewidth"]:
            pieces.append(",\n" + " " * indent + suffix)
            line_length = indent + torch_length(suffix)
        else:
            pieces.append(", " + suffix)
            line_length += torch_length(suffix) + 2
    pieces.append(")")
    return "".join(pieces)


def dtype_name(dtype):
    """`tinytape.float64` for numpy's float64 (torch's str(torch.float64) with our name)."""
    return "tinytape." + np.dtype(dtype).name


def tensor_str(array, *, requires_grad=False, grad_fn=None, extra=(), get_default_dtype=None):
    """The text of `repr(t)` and `str(t)` for a tensor holding the numpy array `array`.

    requires_grad: print `requires_grad=True` (when there is no grad_fn, as torch).
    grad_fn: the name of the node that made the tensor, e.g. "MulBackward0", printed as
        `grad_fn=<MulBackward0>`; None for a leaf.
    extra: further suffix strings (e.g. "device='meta'"), appended after torch's own.
    get_default_dtype: a callable returning the current default float dtype (a numpy dtype or
        anything np.dtype accepts); None means float32. Tensors of that dtype, int64 and bool
        print no dtype.
    """
    array = np.asarray(array)
    default = np.dtype(get_default_dtype()) if get_default_dtype is not None else np.dtype(np.float32)
    indent = len(PREFIX)
    suffixes = []
    if array.size == 0:
        if array.ndim != 1:                                  # as numpy: the shape unless it is (0,)
            suffixes.append("size=" + str(tuple(array.shape)))
        if array.dtype != default:                           # nothing to infer the dtype from
            suffixes.append("dtype=" + dtype_name(array.dtype))
        text = "[]"
    else:
        if not _opts["edgeitems"]:
            suffixes.append("size=" + str(tuple(array.shape)))
        if array.dtype not in (default, np.dtype(np.int64), np.dtype(np.bool_)):
            suffixes.append("dtype=" + dtype_name(array.dtype))
        text = _values_str(array, indent)

    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    suffixes.extend(extra)
    return _add_suffixes(PREFIX + text, suffixes, indent)


def format_scalar(array, spec, **repr_options):
    """`format(t, spec)` / `f"{t:{spec}}"` for a tensor holding `array`, as Tensor.__format__.

    A 0-d tensor formats its Python number (`.item()`), so `f"{loss:.4f}"` works and
    `f"{t}"` of a 0-d int tensor is `3`. Any other tensor (a 1-element 1-d one included)
    gives its repr for an empty spec and refuses a non-empty one with torch's TypeError.
    repr_options (requires_grad, grad_fn, extra, get_default_dtype) are tensor_str's.
    """
    array = np.asarray(array)
    if array.ndim == 0:
        return format(array.item(), spec)
    if spec:
        raise TypeError("unsupported format string passed to Tensor.__format__")
    return tensor_str(array, **repr_options)


# ---------------------------------------------------------------------------------------------
# Size

def _type_name(obj):
    """A type's name as torch's messages write it: `float`, `numpy.float64`, and `Tensor` for ours."""
    kind = type(obj)
    if kind.__module__ == "builtins" or kind.__module__.split(".")[0] == "tinytape":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class Size(tuple):
    """torch.Size: a tuple of ints that prints as `tinytape.Size([182625, 3])`.

    It equals (and hashes as) the plain tuple; slicing, `+` (with a tuple on either side) and
    `*` give a Size; `numel()` is the product of the sizes (1 for Size([])).
    """

    __slots__ = ()

    def __new__(cls, sizes=()):
        values = []
        for i, item in enumerate(sizes):
            try:
                value = int(operator.index(item))
            except TypeError:
                raise TypeError(f"tinytape.Size() takes an iterable of 'int' (item {i} is "
                                f"'{_type_name(item)}')") from None
            if not -2**63 <= value < 2**63:
                raise ValueError("Overflow when unpacking long long")
            values.append(value)
        return super().__new__(cls, values)

    def __repr__(self):
        return "tinytape.Size([" + ", ".join(str(n) for n in self) + "])"

    __str__ = __repr__

    def __format__(self, spec):
        if spec:
            raise TypeError("unsupported format string passed to tinytape.Size.__format__")
        return str(self)

    def __getitem__(self, index):
        got = super().__getitem__(index)
        return Size(got) if isinstance(index, slice) else got

    def __add__(self, other):
        if not isinstance(other, tuple):
            raise TypeError(f"can only concatenate tuple (not {type(other).__name__}) to tinytape.Size")
        return Size(tuple(self) + tuple(other))

    def __radd__(self, other):
        if not isinstance(other, tuple):
            return NotImplemented
        return Size(tuple(other) + tuple(self))

    def __mul__(self, times):
        return Size(tuple(self) * times)

    __rmul__ = __mul__

    def numel(self):
        """The number of elements of a tensor of this shape."""
        return math.prod(self)
