"""The harness can fail: wrong rules, wrong dtypes, leftover tape entries and each tolerance class's
edge are caught (a parity suite whose checks cannot fail proves nothing)."""
import numpy as np
import pytest

import tinytape
from harness import COMPOSITE, EXACT, REDUCE, ULP, assert_close, check, randn
from tinytape import api, ops, tape


def _with_rule(monkeypatch, name, rule, front=None):
    """Replace primitive `name` by one with the same forward and `rule(g, x, out) -> dx`. `front`:
    the torch name of an api.py function made once from the primitive (exp, tanh, ...), rebuilt."""
    real = getattr(ops, name)

    def prim(x, *args):
        out, _ = real(x, *args)
        return out, lambda g: (rule(g, x, out),)
    prim.saves, prim.saved_args, prim.saves_out = real.saves, real.saved_args, real.saves_out
    monkeypatch.setattr(ops, name, prim)
    if front is not None:
        monkeypatch.setattr(api, name, api._unary(prim, front))


def test_a_gradient_one_ulp_off_fails_the_exact_class(monkeypatch):
    _with_rule(monkeypatch, "neg", lambda g, x, out: -g * np.float32(1 + 2 ** -23))
    with pytest.raises(AssertionError, match="not bit-identical"):
        check(lambda T, F, x: -x, randn(3, 4, dtype=np.float32), tol=EXACT)


def test_a_transposed_gradient_is_caught_by_the_random_upstream(monkeypatch):
    """A transpose whose rule forgets to swap back: invisible with a uniform upstream gradient."""
    _with_rule(monkeypatch, "permute", lambda g, x, out: g)
    with pytest.raises(AssertionError):
        check(lambda T, F, x: x.transpose(0, 1), randn(3, 3), tol=EXACT)


def test_a_gradient_of_the_wrong_dtype_is_caught(monkeypatch):
    real = tape._accumulate
    monkeypatch.setattr(tape, "_accumulate", lambda t, g, owned: real(t, g.astype(np.float64), owned))
    with pytest.raises(AssertionError, match=r"^\.grad .* tinytape\.float64 for .* tinytape\.float32$"):
        check(lambda T, F, x: x * 2, randn(3, dtype=np.float32), tol=EXACT)


def test_an_output_of_the_wrong_dtype_is_caught(monkeypatch):
    real = api.exp
    monkeypatch.setattr(api, "exp", lambda x: real(x).double())
    with pytest.raises(AssertionError, match="dtype float64 != torch's float32"):
        check(lambda T, F, x: x.exp(), randn(3, dtype=np.float32), tol=ULP)


def test_entries_left_on_the_tape_are_caught(monkeypatch):
    """A backward that keeps what the rules saved (torch frees it) is caught; mul saves x and y."""
    real = tape.backward
    monkeypatch.setattr(tape, "backward", lambda root, seed, retain_graph=False: real(root, seed, True))
    with pytest.raises(AssertionError, match="tape entries that saved values left after backward"):
        check(lambda T, F, x: x * x, randn(3), tol=EXACT)
    tape.clear()


def test_a_missing_gradient_is_caught(monkeypatch):
    _with_rule(monkeypatch, "exp", lambda g, x, out: None, front="ExpBackward0")
    with pytest.raises(AssertionError, match="torch has a gradient, tinytape None"):
        check(lambda T, F, x: x.exp(), randn(3), tol=ULP)


def test_ulp_class_edges():
    one = np.float32(1.0)
    ok = np.array([one, 0.0, -np.inf, np.nan], dtype=np.float32)
    near = ok.copy()
    near[0] = one + 4 * np.spacing(one)
    assert_close(near, ok, ULP)                           # 4 ulp, zeros, infinities, NaNs
    near[0] = one + 5 * np.spacing(one)
    with pytest.raises(AssertionError, match="outside the ulp tolerance"):
        assert_close(near, ok, ULP)
    with pytest.raises(AssertionError, match="NaNs at different places"):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, np.nan]), ULP)
    with pytest.raises(AssertionError, match="infinities differ"):
        assert_close(np.array([np.inf]), np.array([-np.inf]), ULP)
    with pytest.raises(AssertionError):
        assert_close(np.array([1e-30], dtype=np.float32), np.array([0.0], dtype=np.float32), ULP)


def test_reduce_and_composite_class_edges():
    ref = np.array([1.0, 100.0], dtype=np.float32)
    assert_close(ref * np.float32(1 + 9e-6), ref, REDUCE)
    with pytest.raises(AssertionError):
        assert_close(ref * np.float32(1 + 3e-5), ref, REDUCE)
    assert_close(ref * np.float32(1 + 3e-5), ref, COMPOSITE)
    with pytest.raises(AssertionError):
        assert_close(ref * np.float32(1 + 3e-4), ref, COMPOSITE)
    # the absolute floor scales with the largest reference value, not the element's own
    assert_close(np.array([1e-5, 100.0], dtype=np.float32), np.array([0.0, 100.0], dtype=np.float32), REDUCE)
    with pytest.raises(AssertionError):
        assert_close(np.array([1e-3, 100.0], dtype=np.float32), np.array([0.0, 100.0], dtype=np.float32), REDUCE)
    d = np.array([1.0, 100.0])
    with pytest.raises(AssertionError):
        assert_close(d * (1 + 1e-11), d, REDUCE)          # float64 is held to 1e-12


def test_shape_mismatch_is_caught():
    with pytest.raises(AssertionError, match="shape"):
        assert_close(np.zeros((1, 3)), np.zeros(3), REDUCE)


def test_check_returns_what_it_compared():
    out, t_out, grads, t_grads = check(lambda T, F, x: x * 3, randn(2, 2), tol=EXACT)
    assert isinstance(out[0], tinytape.Tensor)
    np.testing.assert_array_equal(grads[0], np.asarray(t_grads[0]))
    assert not np.all(grads[0] == grads[0].flat[0])       # the upstream gradient was not uniform
