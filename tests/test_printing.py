"""printing.py against torch 2.13: repr of tensors (values at every scale, special values, every dtype,
shape and print option), requires_grad/grad_fn suffixes, the default dtype, format(t, spec), Size."""
import math
import pickle

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinytape import printing
from tinytape.printing import Size, format_scalar, get_printoptions, set_printoptions, tensor_str

SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 4), (2, 1, 3, 2), (0,), (0, 3), (2000,), (40, 40), (3, 1000)]


def torch_repr(t):
    return repr(t).replace("torch.", "tinytape.")


@pytest.fixture(autouse=True)
def _default_options():
    """Every test starts and ends with both libraries at the default options and default dtype."""
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    yield
    set_printoptions(profile="default")
    torch.set_printoptions(profile="default")
    torch.set_default_dtype(torch.float32)


# ---------------------------------------------------------------------------------------------
# The table: value generators x dtypes x shapes

def _normal(scale):
    return lambda rng, n: rng.standard_normal(n) * scale


def _with_specials(rng, n):
    x = rng.standard_normal(n)
    for value in (np.nan, np.inf, -np.inf, -0.0, 0.0):
        x[rng.random(n) < 0.08] = value
    return x


def _rounding_edges(rng, n):
    """Values whose printed width changes on rounding (9.99996 prints as 10.0000)."""
    return rng.choice([9.99996, -9.99996, 0.99995, 99999.5, 0.00015, 1e-4, 999.99999, 1.5, 2.5], n)


FLOAT_VALUES = {
    **{f"normal_1e{k}": _normal(10.0 ** k) for k in (-8, -5, -4, -3, -1, 0, 1, 2, 3, 4, 5, 7, 8)},
    "integers": lambda rng, n: rng.integers(-1000, 1000, n).astype(float),
    "big_integers": lambda rng, n: rng.integers(-10**9, 10**9, n).astype(float),
    "small_integers_with_zero": lambda rng, n: rng.integers(-3, 4, n).astype(float),
    "mixed_magnitudes": lambda rng, n: rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n),
    "ratio_just_over_1000": lambda rng, n: rng.choice([0.01, 10.5, -10.01], n),
    "specials": _with_specials,
    "only_specials": lambda rng, n: rng.choice([np.nan, np.inf, -np.inf, -0.0, 0.0], n),
    "zeros": lambda rng, n: np.zeros(n),
    "rounding_edges": _rounding_edges,
}
INT_VALUES = {
    "int64": lambda rng, n: rng.integers(-10**15, 10**15, n, dtype=np.int64),
    "int32": lambda rng, n: rng.integers(-2**31, 2**31, n).astype(np.int32),
    "int16": lambda rng, n: rng.integers(-300, 300, n).astype(np.int16),
    "int8": lambda rng, n: rng.integers(-128, 128, n).astype(np.int8),
    "uint8": lambda rng, n: rng.integers(0, 256, n).astype(np.uint8),
    "bool": lambda rng, n: rng.random(n) < 0.5,
    "small_int64": lambda rng, n: rng.integers(0, 10, n, dtype=np.int64),
}
CASES = ([(name, dtype) for name in FLOAT_VALUES for dtype in ("float32", "float64")]
         + [(name, None) for name in INT_VALUES])


def make(name, dtype, shape, seed=0):
    rng = np.random.default_rng([seed, len(shape), math.prod(shape)])
    n = math.prod(shape)
    if dtype is None:
        return INT_VALUES[name](rng, n).reshape(shape)
    with np.errstate(all="ignore"):
        return FLOAT_VALUES[name](rng, n).astype(dtype).reshape(shape)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,dtype", CASES)
def test_repr_matches_torch(name, dtype, shape):
    a = make(name, dtype, shape)
    assert tensor_str(a) == torch_repr(torch.tensor(a))


# ---------------------------------------------------------------------------------------------
# Autograd suffixes, the default dtype, print options

@pytest.mark.parametrize("shape", [(), (3,), (7,), (8,), (2, 3), (0,), (0, 2), (2000,)], ids=str)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("scale", [1.0, 1e6])
def test_requires_grad_and_grad_fn(shape, dtype, scale):
    """Long values push the suffixes onto their own line: the wrapping must match too."""
    a = (make("normal_1e0", dtype, shape) * scale).astype(dtype)
    leaf = torch.tensor(a, requires_grad=True)
    assert tensor_str(a, requires_grad=True) == torch_repr(leaf)
    for made in (leaf * 1, leaf.view(shape), leaf.sum() if shape else leaf * 1):
        name = type(made.grad_fn).__name__
        expected = torch_repr(made)
        assert f"grad_fn=<{name}>" in expected
        assert tensor_str(made.detach().numpy(), requires_grad=True, grad_fn=name) == expected


def test_extra_suffixes_follow_torch_ones():
    a = np.ones(3, np.float64)
    assert tensor_str(a, requires_grad=True, extra=("device='meta'",)) == (
        "tensor([1., 1., 1.], dtype=tinytape.float64, requires_grad=True, device='meta')")


@pytest.mark.parametrize("shape", [(), (4,), (0,), (0, 2), (2, 3)], ids=str)
@pytest.mark.parametrize("name,dtype", [("normal_1e0", "float32"), ("normal_1e0", "float64"), ("integers", "float32"),
                                        ("int64", None), ("int8", None), ("bool", None)])
def test_default_dtype_float64(name, dtype, shape):
    a = make(name, dtype, shape)
    torch.set_default_dtype(torch.float64)
    assert tensor_str(a, get_default_dtype=lambda: np.float64) == torch_repr(torch.tensor(a))
    torch.set_default_dtype(torch.float32)
    assert tensor_str(a, get_default_dtype=lambda: np.dtype("float32")) == torch_repr(torch.tensor(a))


OPTIONS = [
    dict(precision=2), dict(precision=0), dict(precision=8), dict(precision=1, sci_mode=True),
    dict(threshold=5), dict(threshold=0), dict(threshold=math.inf), dict(threshold=10, edgeitems=1),
    dict(edgeitems=0), dict(edgeitems=0, threshold=10), dict(edgeitems=5, threshold=20), dict(edgeitems=40),
    dict(linewidth=10), dict(linewidth=40), dict(linewidth=200), dict(linewidth=1),
    dict(profile="short"), dict(profile="full"), dict(profile="short", precision=6),
    dict(sci_mode=True), dict(sci_mode=False), dict(sci_mode=False, precision=2),
]


@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_print_options(options):
    set_printoptions(**options)
    torch.set_printoptions(**options)
    assert get_printoptions() == torch._tensor_str.get_printoptions()
    for shape in [(), (7,), (3, 4), (2, 3, 4), (0, 3), (2000,), (40, 40), (3, 1000)]:
        for name, dtype in [("normal_1e0", "float32"), ("mixed_magnitudes", "float64"), ("big_integers", "float32"),
                            ("specials", "float32"), ("normal_1e-8", "float64"), ("int64", None), ("bool", None)]:
            if options.get("threshold") == math.inf and math.prod(shape) > 1000 and name != "normal_1e0":
                continue                                   # full prints of big tensors: one is enough
            a = make(name, dtype, shape)
            assert tensor_str(a, requires_grad=dtype is not None) == torch_repr(
                torch.tensor(a, requires_grad=dtype is not None)), (name, dtype, shape)


def test_set_printoptions_semantics_match_torch():
    """Every call resets sci_mode; unknown profiles are ignored; the profile applies before the rest."""
    calls = [dict(sci_mode=True), dict(precision=3), dict(profile="full"), dict(profile="nonsense", edgeitems=7),
             dict(profile="short", precision=5, sci_mode=False), dict(threshold=12.5), dict(profile="default")]
    for call in calls:
        set_printoptions(**call)
        torch.set_printoptions(**call)
        assert get_printoptions() == torch._tensor_str.get_printoptions(), call


def test_printoptions_context_manager_restores():
    before = get_printoptions()
    a = np.arange(10.0, dtype=np.float32) / 3
    with printing.printoptions(precision=1, threshold=3), torch._tensor_str.printoptions(precision=1, threshold=3):
        assert tensor_str(a) == torch_repr(torch.tensor(a))
        assert "..." in tensor_str(a)
    assert get_printoptions() == before


# ---------------------------------------------------------------------------------------------
# Property: any float array, with any reasonable options

FLOAT_ELEMENTS = {
    "float32": st.floats(width=32, allow_nan=True, allow_infinity=True),
    "float64": st.floats(allow_nan=True, allow_infinity=True),
}


@st.composite
def arrays_and_options(draw):
    dtype = draw(st.sampled_from(["float32", "float64"]))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
    elements = draw(st.sampled_from([FLOAT_ELEMENTS[dtype], st.integers(-10**6, 10**6).map(float),
                                     st.sampled_from([0.1, -2.5, 1e-5, 3e8, 7.0, -0.0, 99.99995])]))
    a = draw(hnp.arrays(dtype, shape, elements=elements))
    options = draw(st.fixed_dictionaries({}, optional={
        "precision": st.integers(0, 10), "threshold": st.integers(0, 50), "edgeitems": st.integers(0, 4),
        "linewidth": st.integers(1, 120), "sci_mode": st.sampled_from([True, False])}))
    return a, options


@settings(max_examples=300)
@given(arrays_and_options(), st.booleans())
def test_any_float_array_matches_torch(case, requires_grad):
    a, options = case
    set_printoptions(**options)
    torch.set_printoptions(**options)
    assert tensor_str(a, requires_grad=requires_grad) == torch_repr(torch.tensor(a, requires_grad=requires_grad))


# ---------------------------------------------------------------------------------------------
# format(t, spec)

def _outcome(fn):
    try:
        result = fn()
        return result.replace("torch.", "tinytape.") if isinstance(result, str) else result
    except (TypeError, ValueError) as e:
        return type(e), str(e).replace("torch.", "tinytape.")


@pytest.mark.parametrize("value", [np.array(1.5, np.float32), np.array(0.1, np.float32), np.array(-2.0, np.float64),
                                   np.array(np.nan, np.float32), np.array(3), np.array(-7, np.int8),
                                   np.array(True), np.array(200, np.uint8), np.array([1.5], np.float32),
                                   np.array([[2]]), np.array([1.0, 2.0]), np.zeros((0,), np.float32)],
                         ids=lambda v: f"{v.dtype}{v.shape}")
@pytest.mark.parametrize("spec", ["", ".4f", ".2e", ">10", "d", "+", "g", "08.3f"])
def test_format_matches_torch(value, spec):
    t = torch.tensor(value)
    assert _outcome(lambda: format_scalar(value, spec)) == _outcome(lambda: format(t, spec))


def test_format_passes_repr_options_for_tensors_with_dimensions():
    a = np.array([1.0, 2.0], np.float32)
    t = torch.tensor(a, requires_grad=True)
    assert format_scalar(a, "", requires_grad=True) == format(t, "").replace("torch.", "tinytape.")
    assert format_scalar(np.array(0.25, np.float32), ".3f", requires_grad=True) == f"{torch.tensor(0.25):.3f}"


# ---------------------------------------------------------------------------------------------
# Size

SIZES = [[182625, 3], [], [5], [2, 0, 3], [-1, 4], [1, 1, 1, 1]]


@pytest.mark.parametrize("sizes", SIZES, ids=str)
def test_size_matches_torch(sizes):
    mine, theirs = Size(sizes), torch.Size(sizes)
    assert repr(mine) == torch_repr(theirs) and str(mine) == str(theirs).replace("torch.", "tinytape.")
    assert f"{mine}" == f"{theirs}".replace("torch.", "tinytape.")
    assert mine.numel() == theirs.numel()
    assert mine == tuple(sizes) == theirs and hash(mine) == hash(theirs)
    assert mine != list(sizes)
    for index in (slice(None), slice(1, None), slice(None, None, -1), slice(0, 0)):
        assert type(mine[index]) is Size and repr(mine[index]) == torch_repr(theirs[index])
    if sizes:
        assert mine[0] == theirs[0] and type(mine[0]) is int and mine[-1] == theirs[-1]
    for other in [(7,), (), theirs]:
        for got, expected in [(mine + tuple(other), theirs + other), (tuple(other) + mine, other + theirs),
                              (mine * 2, theirs * 2), (2 * mine, 2 * theirs), (mine * 0, theirs * 0)]:
            assert type(got) is Size and type(expected) is torch.Size
            assert repr(got) == torch_repr(expected)
    grown = (9,)
    grown += mine
    assert type(grown) is Size
    assert pickle.loads(pickle.dumps(mine)) == mine and type(pickle.loads(pickle.dumps(mine))) is Size
    assert mine.count(1) == theirs.count(1)


@pytest.mark.parametrize("items", [[1.5], ["a"], "12", [None], [np.float64(2.0)], [2**70], 3,
                                   [True], [np.int64(3)], [np.array(4)], (n for n in (4, 5))], ids=repr)
def test_size_construction_matches_torch(items):
    if not isinstance(items, (list, str, int)):
        items = list(items)                            # a generator is consumed once: make it a list
    got = _outcome(lambda: repr(Size(items)))
    expected = _outcome(lambda: torch_repr(torch.Size(items)))
    assert got == expected
    if isinstance(got, str):
        assert all(type(n) is int for n in Size(items))


def test_size_operator_errors_match_torch():
    s, t = Size([2, 3]), torch.Size([2, 3])
    assert _outcome(lambda: s + [1]) == _outcome(lambda: t + [1])
    assert _outcome(lambda: format(s, ">20")) == _outcome(lambda: format(t, ">20"))
