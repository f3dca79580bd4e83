"""torch's CPU kernels for the optimizers' in-place steps, rounded as torch rounds them, in numpy.

torch 2.13's CPU kernels (AVX2/AVX-512 builds with FMA, and their scalar tails, compiled with
contraction) compute several of the optimizers' ops with one fused multiply-add, a*b + c
rounded once:
- `x.add_(y, alpha=a)` is fma(a, y, x) (torch's `add` with alpha);
- `x.lerp_(end, w)` is fma(w, end - x, x) for |w| < 0.5, else fma(w - 1, end - x, end);
- `x.addcmul_(t1, t2, value=v)` is fma(v * t1, t2, x);
while `x.mul_(s)`, `x / s`, `x.add_(s)` and `x.addcdiv_(t1, t2, value=v)` = x + (v * t1) / t2 are
plain numpy arithmetic. Python-number arguments are first rounded to the tensor's dtype, as
torch does (`value.to<scalar_t>()`).

numpy has no fma, so `fma` computes it exactly:
- float32: a*b is exact in float64 (24 + 24 bits); a*b + c rounded to float64 then to float32 is
  the correctly rounded result except where the float64 sum sits exactly on a float32 midpoint or
  below float32's normal range: those few elements are redone with rounding to odd (Boldo and
  Melquiond), which makes the second rounding exact;
- float64: Dekker's exact product, an exact sum and rounding to odd (Boldo and Melquiond,
  "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to odd", IEEE
  Trans. Computers 2008), about 30 numpy passes; exact unless a product overflows (|a*b| near
  1e308) or underflows (below ~1e-292), where it falls back to a*b + c rounded twice; zeros
  and non-finite results are taken from a*b + c, which has IEEE's signs for them.
Each function writes into `x` in place (x's array; the caller bumps the tensor's version).
"""
import numpy as np

_MID32 = np.uint64(0x10000000)          # a float32 midpoint in a float64's 29 low bits
_LOW32 = np.uint64(0x1FFFFFFF)
_TINY32 = float(np.finfo(np.float32).tiny)
_SPLIT = 134217729.0                    # 2**27 + 1: Veltkamp's split of a float64


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _to_odd(s, e):
    """s = RN(x), e = x - s: the rounding of x to odd (move s one ulp towards e where s is even)."""
    fix = (e != 0) & ((s.view(np.int64) & 1) == 0)
    if fix.any():
        s = np.where(fix, np.nextafter(s, np.where(e > 0, np.inf, -np.inf)), s)
    return s


def _fma32(a, b, c):
    r = np.multiply(a, b, dtype=np.float64)
    r += c
    out = r.astype(np.float32)
    bits = r.view(np.uint64)
    odd = ((bits & _LOW32) == _MID32) | ((np.abs(r) < _TINY32) & (r != 0))
    if odd.any():                       # the rare elements where two roundings could differ from one
        i = np.nonzero(odd)
        p = np.multiply(np.broadcast_to(a, r.shape)[i], np.broadcast_to(b, r.shape)[i], dtype=np.float64)
        s, e = _two_sum(p, np.broadcast_to(c, r.shape)[i].astype(np.float64))
        out[i] = _to_odd(s, e).astype(np.float32)
    return out


def _split(a):
    t = _SPLIT * a
    hi = t - (t - a)
    return hi, a - hi


def _fma64(a, b, c):
    a, b, c = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(c, np.float64))
    uh = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    ul = ((ah * bh - uh) + ah * bl + al * bh) + al * bl       # a*b = uh + ul exactly
    th, tl = _two_sum(c, uh)
    v, ve = _two_sum(tl, ul)
    out = th + _to_odd(v, ve)
    bad = ~np.isfinite(out) | (out == 0)           # inf/nan, and a zero's sign: as a*b + c has them
    if bad.any():
        out[bad] = (uh + c)[bad]
    return out


def fma(a, b, c):
    """a * b + c rounded once, in c's dtype (a, b: arrays or numbers already in c's dtype)."""
    if c.ndim == 0:                     # numpy gives scalars for 0-d arithmetic: work on one element
        return fma(a, np.reshape(b, -1), np.reshape(c, -1)).reshape(())
    return _fma32(a, b, c) if c.dtype == np.float32 else _fma64(a, b, c)


def scalar(x, dtype):
    """A Python number as torch hands it to a kernel: rounded to the tensor's dtype."""
    return dtype.type(x)


def add_(x, y, alpha=1.0):
    """x.add_(y, alpha=alpha)."""
    if alpha == 1:
        np.add(x, y, out=x)
    else:
        np.copyto(x, fma(scalar(alpha, x.dtype), y, x))


def add(x, y, alpha):
    """x.add(y, alpha=alpha): a new array."""
    return x + y if alpha == 1 else fma(scalar(alpha, x.dtype), y, x)


def mul_(x, s):
    np.multiply(x, scalar(s, x.dtype), out=x)


def lerp_(x, end, w):
    """x.lerp_(end, w) for a number w."""
    w = scalar(w, x.dtype)
    diff = end - x
    if abs(w) < 0.5:
        np.copyto(x, fma(w, diff, x))
    else:
        np.copyto(x, fma(w - x.dtype.type(1), diff, end))


def addcmul_(x, t1, t2, value):
    np.copyto(x, fma(scalar(value, x.dtype) * t1, t2, x))


def addcdiv_(x, t1, t2, value):
    q = scalar(value, x.dtype) * t1
    q /= t2
    x += q
