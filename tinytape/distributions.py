"""torch 2.13's CPU transformations from mt19937 words to samples, in numpy, bit for bit.

Every function takes an `Engine` (tinytape.mt19937) and returns a numpy array; the engine's state
afterwards is torch's after the same call. What each one reproduces (aten/src/ATen/core/
DistributionsHelper.h and TransformationHelper.h, native/cpu/DistributionTemplates.h,
native/cpu/avx_mathfun.h, native/cpu/MultinomialKernel.cpp, native/Distributions.cpp,
native/TensorFactories.cpp):

- uniform floats: float32 from one word, `(w & (2^24-1)) * 2^-24`; float64 from a 64-bit draw,
  `(w & (2^53-1)) * 2^-53`; then `x * (to - from) + from` (a fused multiply-add in float32).
- normal, float32 with 16 or more elements: the vectorised Box-Muller of `normal_fill_AVX2` over
  blocks of 16 (uniforms first, then u1 = 1 - first half, u2 = second half), with avx_mathfun's
  Cephes log and sincos in float32 and the multiply-adds the compiler fuses; a size that is not a
  multiple of 16 redraws 16 uniforms and recomputes the last block.
- normal, float64 with 16 or more elements: the same blocks in double with the C library's log,
  sin and cos (Python's math module calls the same functions).
- normal, fewer than 16 elements (either dtype): the scalar `normal_distribution<double>` with its
  cached second sample.
- integers in [low, high): one word modulo the range, or a 64-bit draw when the range is 2^28 or
  more; randperm: Fisher-Yates swaps.
- exponential: `-log1p(-u)` of a float64 uniform (the gumbel trick behind multinomial).
- multinomial: one sample, or no replacement: argmax / top-k of p / Exp(1); several samples with
  replacement: a binary search in the normalised cumulative sum.
- bernoulli: a uniform below p (float64 for a scalar p or a float64 p tensor, float32 otherwise).
"""
import math

import numpy as np

_F32, _F64 = np.float32, np.float64
_MASK24, _MASK53 = np.uint64((1 << 24) - 1), np.uint64((1 << 53) - 1)


# ====================================================================== exact float32 arithmetic
def fma32(a, b, c):
    """round_to_float32(a * b + c) with one rounding, as the FMA instruction (arrays of float32).

    a * b is exact in float64 (24 + 24 bits); the float64 sum may round, and rounding that to
    float32 could round twice only when it lands exactly on a float32 tie: those few are fixed
    with the sum's exact error."""
    p = a.astype(_F64) * b
    s = p + c
    out = s.astype(_F32)
    tie = (s.view(np.uint64) & np.uint64(0x1FFFFFFF)) == np.uint64(0x10000000)
    if tie.any():
        i = np.nonzero(tie)[0] if s.ndim else None
        pi, ci, si = (p[i], np.asarray(c, _F64)[i] if np.ndim(c) else np.float64(c), s[i]) if s.ndim \
            else (p, np.float64(c), s)
        bb = si - pi                        # TwoSum: the exact error of pi + ci
        err = (pi - (si - bb)) + (ci - bb)
        nudged = np.where(err > 0, np.nextafter(si, np.inf), np.where(err < 0, np.nextafter(si, -np.inf), si))
        if s.ndim:
            out[i] = nudged.astype(_F32)
        else:
            out = nudged.astype(_F32)
    return out


# ====================================================================== avx_mathfun.h, float32
def _f(x):
    return _F32(x)


_ONE, _HALF = _f(1.0), _f(0.5)
_SQRTHF = _f(0.707106781186547524)
_LOG_P = [_f(v) for v in (7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1,
                          1.4249322787E-1, -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1,
                          3.3333331174E-1)]
_LOG_Q1, _LOG_Q2 = _f(-2.12194440e-4), _f(0.693359375)
_DP1, _DP2, _DP3 = _f(-0.78515625), _f(-2.4187564849853515625e-4), _f(-3.77489497744594108e-8)
_SIN_P = [_f(v) for v in (-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1)]
_COS_P = [_f(v) for v in (2.443315711809948E-005, -1.388731625493765E-003, 4.166664568298827E-002)]
_FOPI = _f(1.27323954473516)


def log256(x):
    """log256_ps for positive normal float32 x (the inputs here are in (0, 1])."""
    x = np.maximum(x, np.array(0x00800000, np.uint32).view(_F32))
    bits = x.view(np.uint32)
    e = ((bits >> np.uint32(23)).astype(np.int32) - 127).astype(_F32) + _ONE
    x = ((bits & np.uint32(0x807FFFFF)) | np.uint32(0x3F000000)).view(_F32)      # mantissa in [0.5, 1)
    small = x < _SQRTHF
    tmp = np.where(small, x, _F32(0))
    x = x - _ONE
    e = e - np.where(small, _ONE, _F32(0))
    x = x + tmp
    z = x * x
    y = fma32(_LOG_P[0], x, _LOG_P[1])
    for p in _LOG_P[2:]:
        y = fma32(y, x, p)
    y = y * x
    y = fma32(y, z, e * _LOG_Q1)            # y*z fused with the e*q1 term (GCC's contraction)
    y = y - z * _HALF                       # exact product: fused or not, the same
    x = x + y
    x = fma32(e, _LOG_Q2, x)                # exact product
    return x


def sincos256(x):
    """sincos256_ps for float32 x >= 0 (here theta = 2 pi u in [0, 2 pi)): (sin, cos)."""
    y = x * _FOPI
    j = y.astype(np.int32)                  # truncation (cvttps)
    j = (j + 1) & ~1
    y = j.astype(_F32)
    sign_sin = (j & 4) != 0
    poly = (j & 2) == 0
    sign_cos = ((j - 2) & 4) == 0
    x = fma32(y, _DP1, x)
    x = fma32(y, _DP2, x)
    x = fma32(y, _DP3, x)
    z = x * x
    c = fma32(_COS_P[0], z, _COS_P[1])
    c = fma32(c, z, _COS_P[2])
    c = c * z
    c = fma32(c, z, -(z * _HALF))
    c = c + _ONE
    s = fma32(_SIN_P[0], z, _SIN_P[1])
    s = fma32(s, z, _SIN_P[2])
    s = s * z
    s = fma32(s, x, x)
    sin = np.where(poly, s, c)
    cos = np.where(poly, c, s)
    sin = np.where(sign_sin, -sin, sin)
    cos = np.where(sign_cos, -cos, cos)
    return sin, cos


# ====================================================================== exact float64 fma
_SPLIT = 134217729.0                        # 2^27 + 1, Dekker's splitter


def _two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _two_prod(a, b):
    p = a * b
    ah = a * _SPLIT
    ah = ah - (ah - a)
    bh = b * _SPLIT
    bh = bh - (bh - b)
    al, bl = a - ah, b - bh
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def fma64(a, b, c):
    """round_to_float64(a * b + c) with one rounding (float64 arrays or scalars of moderate size).

    The exact value is s + t + et (error-free transformations); t is rounded to odd when et is not
    zero, which keeps the final rounding of s + t that of the exact value."""
    a, b, c = np.broadcast_arrays(np.asarray(a, _F64), np.asarray(b, _F64), np.asarray(c, _F64))
    p, ep = _two_prod(a, b)
    s, es = _two_sum(p, c)
    t, et = _two_sum(es, ep)
    even = (t.view(np.int64) & 1) == 0
    fix = (et != 0) & even
    if fix.any():
        t = np.where(fix, np.nextafter(t, np.where(et > 0, np.inf, -np.inf)), t)
    return s + t


# ====================================================================== the C library's functions
_m_log = np.frompyfunc(math.log, 1, 1)
_m_log1p = np.frompyfunc(math.log1p, 1, 1)
_m_sin = np.frompyfunc(math.sin, 1, 1)
_m_cos = np.frompyfunc(math.cos, 1, 1)


def _libm(f, x):
    """f (a math-module function: the C library's, as torch's scalar code calls) over an array."""
    return f(x).astype(_F64) if np.size(x) else np.zeros(np.shape(x), _F64)


# ====================================================================== uniform
def uniform01_float32(engine, n):
    """n float32 uniforms in [0, 1): one word each, its low 24 bits times 2^-24."""
    return (engine.random(n) & _MASK24).astype(_F32) * _F32(2.0 ** -24)


def uniform01_float64(engine, n):
    """n float64 uniforms in [0, 1): one 64-bit draw each, its low 53 bits times 2^-53."""
    return (engine.random64(n) & _MASK53).astype(_F64) * (2.0 ** -53)


def uniform(engine, n, low=0.0, high=1.0, dtype=_F32):
    """uniform_(low, high): x * (high - low) + low, fused, in the tensor's dtype."""
    if np.dtype(dtype) == _F32:
        lo, hi = _F32(low), _F32(high)
        x = uniform01_float32(engine, n)
        if lo == 0 and hi == 1:
            return x
        return fma32(x, hi - lo, np.full(n, lo, _F32))
    x = uniform01_float64(engine, n)
    lo, hi = float(low), float(high)
    return x if (lo == 0 and hi == 1) else fma64(x, hi - lo, lo)


# ====================================================================== normal
_CHUNK = 1 << 16                            # numpy passes stay in cache


def _box_muller16_float32(u, mean, std):
    """normal_fill_16_AVX2 over consecutive blocks of 16 float32 uniforms (u: (blocks, 16))."""
    out = np.empty_like(u)
    two_pi, mean, std = _F32(2.0 * math.pi), _F32(mean), _F32(std)
    plain = mean == 0 and std == 1
    for i in range(0, len(u), _CHUNK // 16):
        d = u[i:i + _CHUNK // 16]
        u1 = (_ONE - d[:, :8]).reshape(-1)
        u2 = d[:, 8:].reshape(-1)
        radius = np.sqrt(_F32(-2.0) * log256(u1))
        sin, cos = sincos256(two_pi * u2)
        n1, n2 = radius * cos, radius * sin
        if not plain:
            n1 = fma32(n1, std, np.full(n1.shape, mean, _F32))
            n2 = fma32(n2, std, np.full(n2.shape, mean, _F32))
        out[i:i + len(d), :8] = n1.reshape(-1, 8)
        out[i:i + len(d), 8:] = n2.reshape(-1, 8)
    return out


def _box_muller16_float64(u, mean, std):
    """normal_fill_16<double>: the C library's log, cos and sin; `r * cos * std + mean` fused."""
    u1, u2 = 1.0 - u[:, :8], u[:, 8:]
    radius = np.sqrt(-2.0 * _libm(_m_log, u1))
    theta = (2.0 * math.pi) * u2
    n1, n2 = radius * _libm(_m_cos, theta), radius * _libm(_m_sin, theta)
    if not (mean == 0 and std == 1):
        n1, n2 = fma64(n1, std, mean), fma64(n2, std, mean)
    return np.concatenate([n1, n2], axis=1)


def _normal_fill(engine, n, mean, std, dtype):
    """torch's normal_fill (n >= 16): all n uniforms, Box-Muller per block of 16, and when n is not
    a multiple of 16, 16 fresh uniforms for the last 16 elements."""
    draw, blocks = ((uniform01_float32, _box_muller16_float32) if dtype == _F32
                    else (uniform01_float64, _box_muller16_float64))
    out = draw(engine, n)
    whole = n // 16 * 16
    out[:whole] = blocks(out[:whole].reshape(-1, 16), mean, std).reshape(-1)
    if n % 16:
        out[n - 16:] = blocks(draw(engine, 16).reshape(1, 16), mean, std).reshape(-1)
    return out


def normal_scalar(engine, n, mean=0.0, std=1.0):
    """n draws of normal_distribution<double>(mean, std), float64, with the generator's cached
    second sample: each fresh pair takes u1, u2 (64-bit uniforms), gives r cos(theta) now and keeps
    r sin(theta) for the next draw (r = sqrt(-2 log1p(-u2)), theta = 2 pi u1)."""
    out = np.empty(n, _F64)
    mean, std = float(mean), float(std)
    for i in range(n):
        if engine.next_double_normal is not None:
            v, engine.next_double_normal = engine.next_double_normal, None
        else:
            u1, u2 = uniform01_float64(engine, 2)
            r = math.sqrt(-2.0 * math.log1p(-u2))
            theta = 2.0 * math.pi * u1
            engine.next_double_normal = r * math.sin(theta)
            v = r * math.cos(theta)
        out[i] = v
    if n and not (mean == 0 and std == 1):
        out = fma64(out, std, mean)
    return out


def normal(engine, n, mean=0.0, std=1.0, dtype=_F32):
    """normal_(mean, std) of n contiguous elements of `dtype` (float32 or float64)."""
    dtype = np.dtype(dtype)
    if std < 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    if n >= 16:
        return _normal_fill(engine, n, mean, std, dtype.type)
    return normal_scalar(engine, n, mean, std).astype(dtype)


# ====================================================================== integers
def randint(engine, n, low, high):
    """n int64 in [low, high): (word % range) + low, one word each, or a 64-bit draw each when the
    range is 2^28 or more."""
    rng = int(high) - int(low)
    if rng <= 0:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    w = engine.random64(n) if rng >= 1 << 28 else engine.random(n)
    r = w % np.uint64(rng)
    return (r.astype(np.int64) + np.int64(low)) if rng < 1 << 63 else \
        (r + np.uint64(int(low) % (1 << 64))).astype(np.int64)


def randperm(engine, n):
    """randperm(n): r = arange(n); for i < n-1: swap r[i] and r[i + word % (n - i)]."""
    r = np.arange(n, dtype=np.int64)
    if n < 2:
        return r
    z = (engine.random(n - 1) % np.arange(n, 1, -1, dtype=np.uint64)).astype(np.int64).tolist()
    lst = r.tolist()
    for i, k in enumerate(z):
        j = i + k
        lst[i], lst[j] = lst[j], lst[i]
    return np.array(lst, dtype=np.int64)


# ====================================================================== exponential, multinomial
def exponential(engine, n, lambd=1.0):
    """exponential_(lambd): -1/lambd * log1p(-u) with float64 uniforms (the C library's log1p)."""
    u = uniform01_float64(engine, n)
    return (-1.0 / float(lambd)) * _libm(_m_log1p, -u)


def multinomial(engine, probs, num_samples, replacement=False):
    """torch.multinomial over the rows of a 1-D or 2-D float array (checked by the caller)."""
    rows = probs.reshape(-1, probs.shape[-1])
    k = rows.shape[1]
    if not replacement or num_samples == 1:
        q = exponential(engine, rows.size).astype(rows.dtype).reshape(rows.shape)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = rows / q
        if num_samples == 1:
            out = np.argmax(q, axis=1)[:, None]
        else:                               # topk, largest first (exact ties among zeros aside)
            out = np.argsort(-q, axis=1, kind="stable")[:, :num_samples]
    else:
        cum = np.cumsum(rows, axis=1, dtype=rows.dtype)
        cum = cum / cum[:, -1:]
        cum[:, -1] = 1
        u = uniform01_float64(engine, rows.shape[0] * num_samples).reshape(rows.shape[0], num_samples)
        out = np.stack([np.searchsorted(c.astype(_F64), uu, side="left") for c, uu in zip(cum, u)])
        out = np.minimum(out, k - 1)
    out = out.astype(np.int64)
    return out.reshape(num_samples) if probs.ndim == 1 else out


# ====================================================================== bernoulli
def bernoulli_scalar(engine, n, p):
    """bernoulli_(p) for a float p: 1 where a float64 uniform is below p."""
    return uniform01_float64(engine, n) < float(p)


def bernoulli_tensor(engine, probs):
    """torch.bernoulli(probs): 1 where a uniform is below p, the uniform float64 when probs is
    float64, float32 (one word) otherwise."""
    p = np.ascontiguousarray(probs).reshape(-1)
    if p.dtype == _F64:
        return (uniform01_float64(engine, p.size) < p).reshape(np.shape(probs))
    return (uniform01_float32(engine, p.size) < p.astype(_F32)).reshape(np.shape(probs))
