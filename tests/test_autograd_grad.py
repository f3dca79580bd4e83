"""tinytape.autograd.grad and tinytape.autograd.backward against torch.autograd's on the same graphs
built from the same arrays: values, None for unused inputs, torch's errors word for word, `.grad`
left alone, and what retain_graph keeps (only the nodes grad runs are freed, as in torch)."""
import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import tinytape
import tinytape.functional as F
from tinytape import tape


def arrays(dtype=np.float32, seed=0):
    r = np.random.default_rng(seed)
    return {"x": r.standard_normal((5, 4)).astype(dtype), "W": r.standard_normal((4, 3)).astype(dtype),
            "b": r.standard_normal(3).astype(dtype), "u": r.standard_normal(3).astype(dtype),
            "y": np.array([0, 2, 1, 1, 0])}


class Graph:
    """The lecture's kind of graph, built on one library: leaves W, b (and u, never used), the
    intermediates h and logits, the loss."""

    def __init__(self, lib, fn, a):
        self.W = lib.tensor(a["W"], requires_grad=True)
        self.b = lib.tensor(a["b"], requires_grad=True)
        self.u = lib.tensor(a["u"], requires_grad=True)
        self.x = lib.tensor(a["x"])
        self.h = (self.x @ self.W + self.b).tanh()
        self.logits = self.h * 2.0 - self.b
        self.loss = fn.cross_entropy(self.logits, lib.tensor(a["y"]))


def both(dtype=np.float32, seed=0):
    a = arrays(dtype, seed)
    return Graph(tinytape, F, a), Graph(torch, TF, a)


def close(got, want, dtype=np.float32):
    assert len(got) == len(want)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        assert isinstance(g, tinytape.Tensor) and not g.requires_grad and g.grad_fn is None
        assert g.dtype == w.numpy().dtype and tuple(g.shape) == tuple(w.shape)
        np.testing.assert_allclose(np.asarray(g), w.numpy(), rtol=tol, atol=tol)


def same_error(tt_call, torch_call):
    with pytest.raises(Exception) as want:
        torch_call()
    with pytest.raises(type(want.value)) as got:
        tt_call()
    assert str(got.value) == str(want.value).replace("torch.", "tinytape.")


def grads_of(g, names):
    return [getattr(g, n).grad for n in names]


# ---------------------------------------------------------------------------------- values
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaves_and_intermediates_match_torch(dtype):
    t, o = both(dtype)
    names = ["W", "b", "h", "logits"]
    got = tinytape.autograd.grad(t.loss, [getattr(t, n) for n in names])
    want = torch.autograd.grad(o.loss, [getattr(o, n) for n in names])
    assert type(got) is tuple
    close(got, want, dtype)


def test_a_single_tensor_input_and_the_output_itself():
    t, o = both()
    close(tinytape.autograd.grad(t.loss, t.W), torch.autograd.grad(o.loss, o.W))
    t, o = both()
    close(tinytape.autograd.grad(t.loss, [t.loss, t.b, t.b]), torch.autograd.grad(o.loss, [o.loss, o.b, o.b]))


def test_grad_outputs_weight_non_scalar_outputs_and_several_outputs_add_up():
    t, o = both()
    v = np.random.default_rng(3).standard_normal((5, 3)).astype(np.float32)
    got = tinytape.autograd.grad([t.logits, t.loss], [t.W, t.b, t.h], grad_outputs=[tinytape.tensor(v), None])
    want = torch.autograd.grad([o.logits, o.loss], [o.W, o.b, o.h], grad_outputs=[torch.tensor(v), None])
    close(got, want)


def test_grad_outputs_of_another_dtype_are_cast_to_the_outputs():
    t, o = both(np.float64)
    v = np.arange(15).reshape(5, 3)
    close(tinytape.autograd.grad(t.logits, t.W, tinytape.tensor(v)),
          torch.autograd.grad(o.logits, o.W, torch.tensor(v)), np.float64)


def test_a_dict_of_inputs_gives_a_dict():
    t, o = both()
    got = tinytape.autograd.grad(t.loss, {"W": t.W, "b": t.b})
    want = torch.autograd.grad(o.loss, {"W": o.W, "b": o.b})
    assert list(got) == ["W", "b"]
    close(list(got.values()), list(want.values()))


def test_unused_inputs_are_none_with_allow_unused_and_zeros_with_materialize_grads():
    t, o = both()
    close(tinytape.autograd.grad(t.loss, [t.u, t.W], allow_unused=True, retain_graph=True),
          torch.autograd.grad(o.loss, [o.u, o.W], allow_unused=True, retain_graph=True))
    close(tinytape.autograd.grad(t.loss, [t.u, t.W], materialize_grads=True),
          torch.autograd.grad(o.loss, [o.u, o.W], materialize_grads=True))


def test_returned_gradients_do_not_share_memory():
    x = tinytape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = (y + y).sum()                                     # one array flows to both of add's inputs
    gx, gy, gz = tinytape.autograd.grad(z, [x, y, y])
    assert not np.shares_memory(np.asarray(gy), np.asarray(gz))
    np.testing.assert_array_equal(gx, [2.0, 2.0])


# ---------------------------------------------------------------------------------- .grad is untouched
def test_no_grad_is_written_anywhere():
    t, _ = both()
    t.W.grad = tinytape.full((4, 3), 0.5)
    before = t.W.grad
    tinytape.autograd.grad(t.loss, [t.W, t.b, t.h])
    assert t.W.grad is before
    np.testing.assert_array_equal(before, np.full((4, 3), 0.5, np.float32))
    assert t.b.grad is None and t.h.grad is None and t.logits.grad is None and t.loss.grad is None


def test_backward_after_grad_with_retain_graph_gives_torchs_grads():
    t, o = both()
    tinytape.autograd.grad(t.loss, [t.W], retain_graph=True)
    torch.autograd.grad(o.loss, [o.W], retain_graph=True)
    t.loss.backward()
    o.loss.backward()
    close(grads_of(t, ["W", "b"]), grads_of(o, ["W", "b"]))


# ---------------------------------------------------------------------------------- retain_graph
def test_the_graph_is_freed_by_default_and_kept_with_retain_graph():
    t, o = both()
    first = tinytape.autograd.grad(t.loss, [t.W], retain_graph=True)
    again = tinytape.autograd.grad(t.loss, [t.W])
    torch.autograd.grad(o.loss, [o.W], retain_graph=True)
    close(again, torch.autograd.grad(o.loss, [o.W]))
    np.testing.assert_array_equal(first[0], again[0])
    same_error(lambda: tinytape.autograd.grad(t.loss, [t.W]), lambda: torch.autograd.grad(o.loss, [o.W]))


def test_only_the_nodes_grad_runs_are_freed():
    """grad with respect to h runs the nodes above h only: h's own graph stays usable, as in torch."""
    t, o = both()
    close(tinytape.autograd.grad(t.loss, t.h), torch.autograd.grad(o.loss, o.h))
    t.h.sum().backward()
    o.h.sum().backward()
    close(grads_of(t, ["W", "b"]), grads_of(o, ["W", "b"]))
    same_error(lambda: t.loss.backward(), lambda: o.loss.backward())


def test_freed_nodes_leave_the_tape():
    tape.clear()
    t, _ = both()
    n = len(tape.nodes())
    tinytape.autograd.grad(t.loss, [t.W, t.b])
    assert all(node.saved is None for node in tape.nodes()) and len(tape.nodes()) < n


def test_a_saved_value_written_in_place_since():
    for lib in (tinytape, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp()                                       # exp saves its output
        z = (y * 3.0).sum()
        y.mul_(2.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            lib.autograd.grad(z, x)


# ---------------------------------------------------------------------------------- torch's errors
def test_an_unused_input_without_allow_unused():
    t, o = both()
    same_error(lambda: tinytape.autograd.grad(t.loss, [t.W, t.u]), lambda: torch.autograd.grad(o.loss, [o.W, o.u]))


def test_a_non_scalar_output_without_grad_outputs():
    t, o = both()
    same_error(lambda: tinytape.autograd.grad(t.logits, [t.W]), lambda: torch.autograd.grad(o.logits, [o.W]))
    same_error(lambda: tinytape.autograd.grad([t.loss, t.logits], [t.W], [None, None]),
               lambda: torch.autograd.grad([o.loss, o.logits], [o.W], [None, None]))


def test_an_input_that_does_not_require_grad():
    t, o = both()
    same_error(lambda: tinytape.autograd.grad(t.loss, [t.W, t.x]), lambda: torch.autograd.grad(o.loss, [o.W, o.x]))
    same_error(lambda: tinytape.autograd.grad(t.loss, t.W.detach()), lambda: torch.autograd.grad(o.loss, o.W.detach()))


def test_an_output_that_does_not_require_grad():
    t, o = both()
    same_error(lambda: tinytape.autograd.grad([t.loss, t.x.sum()], [t.W]),
               lambda: torch.autograd.grad([o.loss, o.x.sum()], [o.W]))
    same_error(lambda: tinytape.autograd.grad(t.x, [t.x]), lambda: torch.autograd.grad(o.x, [o.x]))


def test_grad_outputs_that_do_not_fit():
    t, o = both()
    v = np.ones(3, np.float32)
    same_error(lambda: tinytape.autograd.grad(t.logits, t.W, tinytape.tensor(v)),
               lambda: torch.autograd.grad(o.logits, o.W, torch.tensor(v)))
    same_error(lambda: tinytape.autograd.grad([t.loss, t.loss], t.W, [tinytape.tensor(1.0)]),
               lambda: torch.autograd.grad([o.loss, o.loss], o.W, [torch.tensor(1.0)]))
    same_error(lambda: tinytape.autograd.grad(t.loss, t.W, [[1.0]]), lambda: torch.autograd.grad(o.loss, o.W, [[1.0]]))


def test_empty_inputs_and_a_conflicting_materialize_grads():
    t, o = both()
    same_error(lambda: tinytape.autograd.grad(t.loss, []), lambda: torch.autograd.grad(o.loss, []))
    same_error(lambda: tinytape.autograd.grad(t.loss, t.W, allow_unused=False, materialize_grads=True),
               lambda: torch.autograd.grad(o.loss, o.W, allow_unused=False, materialize_grads=True))


def test_double_backward_is_refused_clearly():
    t, _ = both()
    with pytest.raises(NotImplementedError, match="first order"):
        tinytape.autograd.grad(t.loss, t.W, create_graph=True)


# ---------------------------------------------------------------------------------- autograd.backward
def test_backward_of_several_roots_is_one_walk():
    t, o = both()
    v = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    tinytape.autograd.backward([t.loss, t.logits], [None, tinytape.tensor(v)])
    torch.autograd.backward([o.loss, o.logits], [None, torch.tensor(v)])
    close(grads_of(t, ["W", "b"]), grads_of(o, ["W", "b"]))
    assert t.u.grad is None
    same_error(lambda: t.loss.backward(), lambda: o.loss.backward())


def test_backward_with_inputs_writes_only_their_grad():
    t, o = both()
    o.h.retain_grad()
    tinytape.autograd.backward(t.loss, inputs=[t.W, t.h])
    torch.autograd.backward(o.loss, inputs=[o.W, o.h])
    close(grads_of(t, ["W", "h"]), grads_of(o, ["W", "h"]))
    assert t.b.grad is None and o.b.grad is None and t.logits.grad is None


def test_backward_errors():
    t, o = both()
    same_error(lambda: tinytape.autograd.backward([t.loss, t.x.sum()]),
               lambda: torch.autograd.backward([o.loss, o.x.sum()]))
    same_error(lambda: tinytape.autograd.backward(t.logits), lambda: torch.autograd.backward(o.logits))
    same_error(lambda: tinytape.autograd.backward(t.loss, inputs=[]),
               lambda: torch.autograd.backward(o.loss, inputs=[]))
