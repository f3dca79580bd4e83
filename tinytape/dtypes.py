"""dtypes (numpy's dtype objects under torch's names) and torch's type promotion, in one place.

The rule, as torch's: float32 is the default for float data; an operation's result takes the
highest category (bool < integer < float) among its operands, with priority to tensors that have
dimensions over 0-d tensors over Python/numpy scalars. So float32 stays float32 when a Python
float, a numpy float64 scalar or a 0-d float64 tensor is involved; two dimensioned tensors of
float32 and float64 give float64 (and the float32 input's gradient comes back as float32).
"""
import numpy as np

float32 = float = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
int64 = long = np.dtype(np.int64)
int32 = int = np.dtype(np.int32)
int16 = short = np.dtype(np.int16)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
bool = np.dtype(np.bool_)

default_float = float32
FLOATS = (float32, float64)
SUPPORTED = frozenset([float32, float64, int64, int32, int16, int8, uint8, bool])


# torch's names in its messages: the scalar type ("Float") and the C type ("float")
TORCH_NAMES = {float32: "Float", float64: "Double", int64: "Long", int32: "Int", int16: "Short", int8: "Char",
               uint8: "Byte", bool: "Bool"}
C_NAMES = {float32: "float", float64: "double", int64: "long int", int32: "int", int16: "short int",
           int8: "signed char", uint8: "unsigned char", bool: "bool"}


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
            return default_float if category(s) == 2 else int64
        return t
    if (a_ndim == 0) == (b_ndim == 0):
        return _promote_same_rank(a, b)
    dim, zero = (a, b) if a_ndim else (b, a)              # a 0-d tensor only matters if it is of
    if category(zero) > category(dim):                     # a higher category than the other
        return zero
    return dim


def check_supported(dt, what="tensor"):
    if dt not in SUPPORTED:
        raise TypeError(f"tinytape does not support dtype {dt} for a {what}: use float32 or float64 "
                        f"for real numbers, int64 for indices (e.g. array.astype(np.float32))")
    return dt
