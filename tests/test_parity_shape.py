"""Parity with torch for the shape ops (view/reshape, flatten, transpose, .T, permute, unsqueeze,
squeeze, expand, cat, stack) and for indexing (ints, slices, None, Ellipsis, integer arrays, lists,
ranges, int tensors, bool masks, tuples of them, repeated indices)."""
import numpy as np
import pytest

from harness import EXACT, REDUCE, NoGrad, check, randn

DTYPES = [np.float32, np.float64]

SHAPE_OPS = {
    "view": lambda T, F, x: x.view(4, -1),
    "view_tuple": lambda T, F, x: x.view((2, -1, 3)),
    "view_list": lambda T, F, x: x.view([-1]),
    "reshape": lambda T, F, x: x.reshape(3, 8),
    "reshape_fn": lambda T, F, x: T.reshape(x, (-1, 2)),
    "view_as": lambda T, F, x: x.view_as(x.reshape(6, 4)) * x.reshape(6, 4),
    "flatten": lambda T, F, x: x.flatten(),
    "flatten1": lambda T, F, x: x.flatten(1),
    "flatten01": lambda T, F, x: x.flatten(0, 1),
    "flatten_fn": lambda T, F, x: T.flatten(x, -2, -1),
    "transpose": lambda T, F, x: x.transpose(0, 2),
    "transpose_neg": lambda T, F, x: x.transpose(-1, -2),
    "transpose_same": lambda T, F, x: x.transpose(1, 1),
    "transpose_fn": lambda T, F, x: T.transpose(x, 0, 1),
    "permute": lambda T, F, x: x.permute(2, 0, 1),
    "permute_tuple": lambda T, F, x: x.permute((1, 2, 0)),
    "permute_neg": lambda T, F, x: x.permute(-1, 0, 1),
    "permute_fn": lambda T, F, x: T.permute(x, (2, 1, 0)),
    "unsqueeze0": lambda T, F, x: x.unsqueeze(0),
    "unsqueeze_end": lambda T, F, x: x.unsqueeze(3),
    "unsqueeze_neg": lambda T, F, x: x.unsqueeze(-2),
    "unsqueeze_fn": lambda T, F, x: T.unsqueeze(x, 1),
    "mT": lambda T, F, x: x.mT,
    "chain": lambda T, F, x: x.view(-1, 4).T.reshape(2, 2, 6).transpose(0, 1) * 1.5,
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SHAPE_OPS)
def test_shape_op(name, dtype):
    out, *_ = check(SHAPE_OPS[name], randn(2, 3, 4, dtype=dtype), tol=EXACT)
    assert out[0].dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_T_and_t(dtype):
    check(lambda T, F, x: x.T, randn(3, 5, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: x.t(), randn(3, 5, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: x.t(), randn(4, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: x @ x.T, randn(3, 5, dtype=dtype), tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_dim_shape_ops(dtype):
    x = randn(dtype=dtype)
    for f in (lambda T, F, x: x.view(1), lambda T, F, x: x.reshape(1, 1), lambda T, F, x: x.flatten(),
              lambda T, F, x: x.unsqueeze(0), lambda T, F, x: x.view(-1), lambda T, F, x: x.expand(2, 3),
              lambda T, F, x: x.squeeze(), lambda T, F, x: x.transpose(0, -1)):
        check(f, x, tol=EXACT)


SQUEEZES = {
    "all": lambda T, F, x: x.squeeze(),
    "dim": lambda T, F, x: x.squeeze(1),
    "neg": lambda T, F, x: x.squeeze(-1),
    "not_one": lambda T, F, x: x.squeeze(0),
    "tuple": lambda T, F, x: x.squeeze((1, 3)),
    "empty": lambda T, F, x: x.squeeze(()),
    "fn": lambda T, F, x: T.squeeze(x, 1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", SQUEEZES)
def test_squeeze(name, dtype):
    check(SQUEEZES[name], randn(2, 1, 3, 1, dtype=dtype), tol=EXACT)


EXPANDS = [((3, 1), (3, 4)), ((3, 1), (-1, 4)), ((1,), (2, 5)), ((2, 1, 3), (4, 2, 5, 3)),
           ((4,), (3, 4)), ((1, 1), (1, 1))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", EXPANDS, ids=str)
def test_expand(shapes, dtype):
    src, dst = shapes
    check(lambda T, F, x: x.expand(*dst), randn(*src, dtype=dtype), tol=EXACT)
    check(lambda T, F, x: x.expand(dst) * 2.0, randn(*src, dtype=dtype), tol=EXACT)


CATS = [([(2, 3), (4, 3)], 0), ([(2, 3), (2, 1), (2, 4)], 1), ([(2, 3), (2, 2)], -1),
        ([(1, 2, 3), (2, 2, 3)], 0), ([(3,), (1,), (2,)], 0), ([(2, 3)], 0)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes,dim", CATS, ids=str)
def test_cat(shapes, dim, dtype):
    xs = [randn(*s, dtype=dtype, seed=i) for i, s in enumerate(shapes)]
    check(lambda T, F, *xs: T.cat(list(xs), dim), *xs, tol=EXACT)
    check(lambda T, F, *xs: T.cat(tuple(xs), dim=dim), *xs, tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cat_with_inputs_that_do_not_require_grad_and_repeats(dtype):
    a, b = randn(2, 3, dtype=dtype, seed=1), randn(1, 3, dtype=dtype, seed=2)
    check(lambda T, F, x, y: T.cat([x, y, x], 0), a, NoGrad(b), tol=EXACT)
    check(lambda T, F, x, y: T.cat([y, x], 0), a, NoGrad(b), tol=EXACT)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(dim, dtype):
    xs = [randn(2, 3, dtype=dtype, seed=i) for i in range(3)]
    check(lambda T, F, *xs: T.stack(list(xs), dim), *xs, tol=EXACT)
    check(lambda T, F, x, y: T.stack([x, y, x], dim=dim), xs[0], NoGrad(xs[1]), tol=EXACT)


@pytest.mark.parametrize("dtypes", [(np.float32, np.float64), (np.int64, np.float32), (np.float64, np.int32),
                                    (np.bool_, np.float32)], ids=str)
def test_cat_and_stack_promote_like_torch(dtypes):
    a = randn(2, 3, seed=1).astype(dtypes[0])
    b = randn(2, 3, seed=2).astype(dtypes[1])
    check(lambda T, F, x, y: T.cat([x, y], 1), a, b, tol=EXACT)
    check(lambda T, F, x, y: T.stack([y, x]), a, b, tol=EXACT)


def test_stack_of_zero_dim_tensors():
    xs = [randn(dtype=np.float64, seed=i) for i in range(4)]
    check(lambda T, F, *xs: T.stack(xs), *xs, tol=EXACT)


# ---------------------------------------------------------------------------------- indexing
def _ints(*shape, high, seed=0):
    return np.random.default_rng(seed).integers(0, high, shape).astype(np.int64)


# name -> (input shape, index builder: (T) -> index, gradient class); index parts given as numpy
# int arrays reach both engines as int tensors (the harness), lists/ranges/slices as themselves
INDEXES = {
    "int": ((4, 5), lambda: 2, EXACT),
    "neg_int": ((4, 5), lambda: -1, EXACT),
    "int_int": ((4, 5), lambda: (1, -2), EXACT),
    "slice": ((6, 5), lambda: slice(1, 4), EXACT),
    "slice_step": ((6, 5), lambda: (slice(None), slice(0, 5, 2)), EXACT),
    "slice_neg": ((6, 5), lambda: slice(-3, None), EXACT),
    "slice_empty": ((6, 5), lambda: slice(4, 2), EXACT),
    "none": ((4, 5), lambda: None, EXACT),
    "none_mid": ((4, 5), lambda: (slice(None), None, 1), EXACT),
    "ellipsis": ((2, 3, 4), lambda: (Ellipsis, 1), EXACT),
    "ellipsis_none": ((2, 3, 4), lambda: (None, Ellipsis, slice(1, 3)), EXACT),
    "list": ((5, 3), lambda: [0, 3, 4], EXACT),
    "list_repeat": ((5, 3), lambda: [1, 1, 4, 1], REDUCE),
    "list_neg": ((5, 3), lambda: [-1, 0, -5], EXACT),
    "range": ((5, 3), lambda: range(1, 5, 2), EXACT),
    "array_2d_repeat": ((27, 10), lambda: _ints(32, 3, high=27), REDUCE),
    "lecture_pick": ((32, 27), lambda: (range(32), _ints(32, high=27, seed=1)), EXACT),
    "two_arrays": ((5, 4), lambda: (_ints(6, high=5), _ints(6, high=4, seed=3)), REDUCE),
    "array_slice": ((5, 4, 3), lambda: (slice(1, None), [0, 2, 2]), REDUCE),
    "slice_array": ((5, 4, 3), lambda: (slice(None), _ints(2, 2, high=4), slice(0, 2)), REDUCE),
    "split_arrays": ((5, 4, 3), lambda: (_ints(3, high=5), slice(None), _ints(3, high=3, seed=4)), REDUCE),
    "int_array": ((5, 4), lambda: (2, [0, 3, 3]), REDUCE),
    "zero_d_int_tensor": ((5, 4), lambda: np.array(3), EXACT),
    "mask_full": ((3, 4), lambda: np.random.default_rng(2).random((3, 4)) < 0.5, EXACT),
    "mask_rows": ((4, 3), lambda: np.array([True, False, True, True]), EXACT),
    "mask_cols": ((4, 3), lambda: (slice(None), np.array([False, True, True])), EXACT),
    "mask_list": ((4, 3), lambda: [True, False, False, True], EXACT),
    "none_array": ((5, 3), lambda: (None, [4, 0, 4]), REDUCE),
    # torch applies integers before index arrays; numpy would move the indexed dims to the front
    "int_slice_array": ((2, 3, 4), lambda: (0, slice(None), [0, 0, 1]), REDUCE),
    "int0d_slice_array": ((2, 3, 4), lambda: (np.array(1), slice(None), np.array([3, 0])), EXACT),
    "int_ellipsis_array": ((2, 3, 4), lambda: (1, Ellipsis, [2, 2]), REDUCE),
    "int_slice_mask": ((2, 3, 4), lambda: (0, slice(None), np.array([True, False, True, False])), EXACT),
    "array_slice_int": ((2, 3, 4), lambda: ([1, 0], slice(None), -1), EXACT),
    # an Ellipsis standing for no dim does not separate index arrays, for torch
    "empty_ellipsis": ((2, 3), lambda: (None, [0, 1], Ellipsis, [0, 2]), EXACT),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", INDEXES)
def test_getitem(name, dtype):
    shape, index, cls = INDEXES[name]
    idx = index()
    x = randn(*shape, dtype=dtype)
    if isinstance(idx, np.ndarray):                       # a bare int/bool array: an index tensor
        check(lambda T, F, x, i: x[i], x, idx, tol=EXACT, grad_tol=cls)
    elif isinstance(idx, tuple) and any(isinstance(i, np.ndarray) for i in idx):
        arrays = [i for i in idx if isinstance(i, np.ndarray)]       # numpy parts as index tensors

        def fn(T, F, x, *ts):
            it = iter(ts)
            return x[tuple(next(it) if isinstance(i, np.ndarray) else i for i in idx)]
        check(fn, x, *arrays, tol=EXACT, grad_tol=cls)
    else:
        check(lambda T, F, x: x[idx], x, tol=EXACT, grad_tol=cls)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_tuple_with_int_tensors(dtype):
    """`logprobs[range(n), Yb]` and `C[Xb]` exactly as the lecture writes them (Yb, Xb tensors)."""
    Yb = _ints(32, high=27, seed=5)
    Xb = _ints(32, 3, high=27, seed=6)
    check(lambda T, F, lp, y: lp[range(32), y], randn(32, 27, dtype=dtype), Yb, tol=EXACT)
    check(lambda T, F, lp, y: -lp[range(32), y].mean(), randn(32, 27, dtype=dtype), Yb, tol=REDUCE)
    out, *_ = check(lambda T, F, C, X: C[X], randn(27, 10, dtype=dtype), Xb, tol=EXACT, grad_tol=REDUCE)
    assert out[0].shape == (32, 3, 10)
    check(lambda T, F, C, X: C[X].view(32, -1), randn(27, 10, dtype=dtype), Xb, tol=EXACT, grad_tol=REDUCE)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_heavily_repeated_index_accumulates(dtype):
    """Every read of a row adds its gradient (a plain `dx[idx] += g` would add once)."""
    idx = np.zeros(50, dtype=np.int64)
    idx[::7] = 2
    _, _, grads, _ = check(lambda T, F, x, i: x[i], randn(3, 4, dtype=dtype), idx, tol=EXACT,
                           grad_tol=REDUCE)
    assert np.all(grads[0][1] == 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_getitem_of_an_intermediate_used_twice(dtype):
    check(lambda T, F, x: x.tanh()[1:] * x.tanh()[:-1] + x[[0, 0, 1]].sum(), randn(4, 3, dtype=dtype),
          tol=REDUCE)


def test_getitem_of_integer_and_bool_tensors():
    check(lambda T, F, x: x[[2, 0, 2]], np.arange(5), tol=EXACT)
    check(lambda T, F, x: x[1:, None], np.array([True, False, True]), tol=EXACT)
