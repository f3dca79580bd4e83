"""dtypes (torch's names over numpy's dtypes) and torch's type promotion, in one place.

`tinytape.float32` prints as torch prints it and works wherever numpy takes a dtype
(`np.zeros(3, dtype=tinytape.float32)`, `x.dtype == np.float32`). Inside the engine, arrays carry
numpy dtypes; `of(np_dtype)` gives the public object.

Promotion, as torch's: float32 is the default for float data; an operation's result takes the
highest category (bool < integer < float) among its operands, with priority to tensors that have
dimensions over 0-d tensors over Python/numpy scalars. So float32 stays float32 when a Python
float, a numpy float64 scalar or a 0-d float64 tensor is involved; two dimensioned tensors of
float32 and float64 give float64 (and the float32 input's gradient comes back as float32).
"""
import builtins

import numpy as np


class dtype:
    """A torch dtype: `tinytape.float32`. `.dtype` is numpy's, so numpy accepts it as a dtype."""
    __slots__ = ("dtype", "_name", "is_floating_point", "is_signed", "itemsize", "kind")

    def __init__(self, np_dtype, name):
        self.dtype = np.dtype(np_dtype)
        self._name = name
        self.is_floating_point = self.dtype.kind == "f"
        self.is_signed = self.dtype.kind in "fi"
        self.itemsize = self.dtype.itemsize
        self.kind = self.dtype.kind                       # numpy's letter ("f", "i", "b"), for numpy users

    def __repr__(self):
        return f"tinytape.{self._name}"

    def __eq__(self, other):
        if type(other) is dtype:
            return self is other
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return NotImplemented

    def __hash__(self):
        return hash(self.dtype)

    def __reduce__(self):
        return (of, (self.dtype,))

    def to_complex(self):
        raise TypeError("tinytape has no complex dtypes")


float32 = float = dtype(np.float32, "float32")
float64 = double = dtype(np.float64, "float64")
int64 = long = dtype(np.int64, "int64")
int32 = int = dtype(np.int32, "int32")
int16 = short = dtype(np.int16, "int16")
int8 = dtype(np.int8, "int8")
uint8 = dtype(np.uint8, "uint8")
bool = dtype(np.bool_, "bool")
ALL = (float32, float64, int64, int32, int16, int8, uint8, bool)
_OF = {d.dtype: d for d in ALL}

F32, F64, I64, BOOL = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)
FLOATS = (F32, F64)
SUPPORTED = frozenset(_OF)
_default = [F32]                                          # torch.set_default_dtype changes it


def of(np_dtype):
    """The public dtype object for a numpy dtype."""
    return _OF[np_dtype]


def default_float():
    return _default[0]


def get_default_dtype():
    return _OF[_default[0]]


def set_default_dtype(d):
    d = np.dtype(d)
    if d not in FLOATS:
        raise TypeError(f"only floating-point types are supported as the default type (got {of(d) if d in _OF else d})")
    _default[0] = d


# torch's names in its messages: the scalar type ("Float") and the C type ("float")
TORCH_NAMES = {F32: "Float", F64: "Double", I64: "Long", np.dtype(np.int32): "Int", np.dtype(np.int16): "Short",
               np.dtype(np.int8): "Char", np.dtype(np.uint8): "Byte", BOOL: "Bool"}
C_NAMES = {F32: "float", F64: "double", I64: "long int", np.dtype(np.int32): "int", np.dtype(np.int16): "short int",
           np.dtype(np.int8): "signed char", np.dtype(np.uint8): "unsigned char", BOOL: "bool"}


def to_numpy(d):
    """A dtype argument (tinytape's, numpy's, a Python type) as a supported numpy dtype."""
    d = np.dtype(d)
    if d not in SUPPORTED:
        raise TypeError(f"tinytape does not support dtype {d}: use float32 or float64 for real numbers, "
                        f"int64 for indices (e.g. array.astype(np.float32))")
    return d


check_supported = to_numpy


def category(dt):
    """0 for bool, 1 for integers, 2 for floats."""
    return 2 if dt.kind == "f" else 1 if dt.kind in "iu" else 0


def _promote_same_rank(a, b):
    ca, cb = category(a), category(b)
    if ca != cb:
        return a if ca > cb else b
    return np.promote_types(a, b)


def result_type(a, a_ndim, b, b_ndim):
    """torch's result dtype for two operands given as (dtype, ndim); ndim None means a scalar."""
    if a == b:
        return a
    if a_ndim is None or b_ndim is None:                  # a Python or numpy scalar is weak
        t, s = (b, a) if a_ndim is None else (a, b)
        if category(s) > category(t):
            return _default[0] if category(s) == 2 else I64
        return t
    if (a_ndim == 0) == (b_ndim == 0):
        return _promote_same_rank(a, b)
    dim, zero = (a, b) if a_ndim else (b, a)              # a 0-d tensor only matters if it is of
    if category(zero) > category(dim):                     # a higher category than the other
        return zero
    return dim


def is_float(dt):
    return dt.kind == "f"


__all__ = [n for n in ("float32", "float", "float64", "double", "int64", "long", "int32", "int", "int16",
                       "short", "int8", "uint8", "bool")]
del builtins
