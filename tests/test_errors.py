"""Misuse: each error has its type, its message (torch's words where torch has them, compared with
torch's own message on the same call), and changes nothing (no tape entry, no .grad, no data)."""
import contextlib
import warnings

import numpy as np
import pytest
import torch

import tinytape
import tinytape.functional as TF
from tinytape import tape


def leaf(*shape, seed=0, dtype=np.float32):
    return tinytape.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=True)


@contextlib.contextmanager
def nothing_changes(*tensors, arrays=()):
    """The block may raise (inside pytest.raises); afterwards the tape, each tensor's memory, values,
    version, .grad (the same tensor, the same values), flags and node, and each array are exactly as
    before."""
    tape_before = list(tape._tape)
    state = [(np.asarray(t), np.array(t, copy=True), t._version, t.grad,
              None if t.grad is None else np.array(t.grad, copy=True), t.requires_grad, t._node) for t in tensors]
    arrays_before = [a.copy() for a in arrays]
    yield
    assert len(tape._tape) == len(tape_before) and all(a is b for a, b in zip(tape._tape, tape_before)), \
        "the tape changed"
    for t, (data, data_copy, version, grad, grad_copy, rg, node) in zip(tensors, state):
        assert np.asarray(t) is data, "the tensor's memory was replaced"
        np.testing.assert_array_equal(np.asarray(t), data_copy, err_msg="data was written")
        assert t._version == version, "the version counter moved: an in-place write happened"
        assert t.grad is grad, ".grad was replaced"
        if grad is not None:
            np.testing.assert_array_equal(np.asarray(t.grad), grad_copy, err_msg=".grad was written")
        assert t.requires_grad == rg and t._node is node
    for a, b in zip(arrays, arrays_before):
        np.testing.assert_array_equal(a, b, err_msg="an array was written")


def torch_message(fn):
    """torch's exception (type, message) for the same call."""
    with pytest.raises(Exception) as e:
        fn()
    return type(e.value), str(e.value)


def same_error(tt_call, torch_call, *tensors, arrays=()):
    """tinytape raises torch's exception type with torch's exact message, and changes nothing."""
    kind, message = torch_message(torch_call)
    with nothing_changes(*tensors, arrays=arrays):
        with pytest.raises(kind) as e:
            tt_call()
    assert str(e.value) == message


def pair(*shape, seed=0, dtype=np.float32, grad=True):
    """The same leaf in tinytape and in torch, tinytape's with a .grad already there."""
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    x = tinytape.tensor(a, requires_grad=grad)
    if grad:
        x.grad = tinytape.full(shape, 0.5, dtype=dtype)
    return x, torch.tensor(a, requires_grad=grad)


# ---------------------------------------------------------------------------------- backward
def test_non_scalar_backward_without_gradient():
    x, tx = pair(2, 3)
    y, ty = x * 2, tx * 2
    same_error(lambda: y.backward(), lambda: ty.backward(), x, y)


def test_backward_with_a_wrong_shaped_gradient():
    x = leaf(2, 3)
    y = x * 2
    with nothing_changes(x, y), pytest.raises(RuntimeError, match=r"Mismatch in shape: grad_output\[0\] has a "
                                              r"shape of \(3,\) and output\[0\] has a shape of \(2, 3\)"):
        y.backward(np.ones(3, dtype=np.float32))


def test_backward_with_a_complex_gradient():
    x = leaf(3)
    y = x * 2
    with nothing_changes(x, y), pytest.raises(TypeError, match="gradient must be a real array"):
        y.backward(np.ones(3, dtype=np.complex64))


def test_backward_on_a_tensor_that_does_not_require_grad():
    a = np.ones(3, dtype=np.float32)
    x = tinytape.tensor(a)
    same_error(lambda: x.sum().backward(), lambda: torch.tensor(a).sum().backward(), x)


def test_backward_twice_without_retain_graph():
    x, tx = pair(3)
    y, ty = (x.exp() * x).sum(), (tx.exp() * tx).sum()
    y.backward()
    ty.backward()
    same_error(lambda: y.backward(), lambda: ty.backward(), x, y)


# ---------------------------------------------------------------------------------- shapes
BROADCAST_ERRORS = [((2, 3), (2, 4)), ((3,), (4,)), ((2, 3, 4), (5, 4)), ((5, 1, 3), (4, 2)), ((2, 3), (3, 3, 2))]
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "lt": lambda a, b: a < b,
          "where": lambda a, b: (tinytape if isinstance(a, tinytape.Tensor) else torch).where(a > 0, a, b)}


@pytest.mark.parametrize("op", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_ERRORS, ids=str)
def test_shapes_that_do_not_broadcast(op, shapes):
    """"The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1"."""
    (x, tx), (y, ty) = pair(*shapes[0]), pair(*shapes[1], seed=1)
    same_error(lambda: BINARY[op](x, y), lambda: BINARY[op](tx, ty), x, y)
    same_error(lambda: BINARY[op](x, y.data), lambda: BINARY[op](tx, ty.data), x, y)


def test_the_lecture_example_of_a_broadcast_error():
    x, y = leaf(2, 3), leaf(2, 4)
    with nothing_changes(x, y), pytest.raises(
            RuntimeError, match=r"^The size of tensor a \(3\) must match the size of tensor b \(4\) at "
                                r"non-singleton dimension 1$"):
        x + y


@pytest.mark.parametrize("shapes", [((2, 3), (4, 5)), ((5, 2), (5, 2)), ((1, 3), (2, 1))], ids=str)
def test_matmul_shapes_that_do_not_multiply(shapes):
    (x, tx), (y, ty) = pair(*shapes[0]), pair(*shapes[1], seed=1)
    same_error(lambda: x @ y, lambda: tx @ ty, x, y)


@pytest.mark.parametrize("shapes", [((3,), (4,)), ((2, 3), (4,)), ((2, 2, 3), (2, 4, 5))], ids=str)
def test_matmul_vectors_and_batches_that_do_not_multiply(shapes):
    (x, tx), (y, ty) = pair(*shapes[0]), pair(*shapes[1], seed=1)
    torch_message(lambda: tx @ ty)
    with nothing_changes(x, y), pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        x @ y


@pytest.mark.parametrize("shapes", [((), (2, 2)), ((2, 2), ()), ((), ())], ids=str)
def test_matmul_of_a_zero_dim_tensor(shapes):
    (x, tx), (y, ty) = pair(*shapes[0]), pair(*shapes[1], seed=1)
    same_error(lambda: x @ y, lambda: tx @ ty, x, y)


@pytest.mark.parametrize("shapes", [((5,), (4,), (4, 5)), ((5,), (3, 4), (4,)), ((5,), (3, 4), (3, 5)),
                                    ((4,), (3, 4), (4, 5)), ((2, 3, 5), (3, 4), (4, 5))], ids=str)
def test_addmm_operands_that_do_not_fit(shapes):
    (b, tb), (x, tx), (w, tw) = (pair(*s, seed=k) for k, s in enumerate(shapes))
    same_error(lambda: tinytape.addmm(b, x, w), lambda: torch.addmm(tb, tx, tw), b, x, w)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_addmm_of_two_dtypes(which):
    dts = [np.float32] * 3
    dts[which] = np.float64
    (b, tb), (x, tx), (w, tw) = (pair(*s, seed=k, dtype=d) for k, (s, d) in enumerate(zip([(5,), (3, 4), (4, 5)], dts)))
    same_error(lambda: tinytape.addmm(b, x, w), lambda: torch.addmm(tb, tx, tw), b, x, w)


@pytest.mark.parametrize("call", ["view(4, 4)", "reshape(-1, 4)", "view(-1, -1)", "view(5)", "reshape(7, -1)"])
def test_reshape_to_an_invalid_shape(call):
    x, tx = pair(2, 3)
    same_error(lambda: eval(f"x.{call}", {"x": x}), lambda: eval(f"x.{call}", {"x": tx}), x)


@pytest.mark.parametrize("call", [
    "x.sum(2)", "x.sum(-3)", "x.sum((0, 2))", "x.mean(2)", "x.var(5)", "x.std(-3)", "x.max(2)", "x.min(-3)",
    "x.argmax(2)", "x.transpose(0, 2)", "x.unsqueeze(3)", "x.unsqueeze(-4)", "x.flatten(2)", "x.squeeze(2)",
    "T.cat([x, x], 2)", "T.stack([x, x], 3)", "T.stack([x, x], -4)", "F.softmax(x, 2)", "F.log_softmax(x, -3)",
    "x.permute(0, 2)"])
def test_dims_out_of_range(call):
    x, tx = pair(2, 3)
    same_error(lambda: eval(call, {"x": x, "T": tinytape, "F": TF}),
               lambda: eval(call, {"x": tx, "T": torch, "F": torch.nn.functional}), x)


@pytest.mark.parametrize("call", ["x.sum((0, 0))", "x.mean((1, -1))", "x.var((1, 1))", "x.std((0, -2))",
                                  "x.permute(0, 0)", "x.permute(0)"])
def test_repeated_or_missing_dims(call):
    x, tx = pair(2, 3)
    same_error(lambda: eval(call, {"x": x}), lambda: eval(call, {"x": tx}), x)


# ---------------------------------------------------------------------------------- indexing
@pytest.mark.parametrize("call", ["x[5]", "x[-3]", "x[0, 5]", "x[0, -4]", "x[[0, 2]]", "x[0, 0, 0]",
                                  "x[T.tensor([1, 2])]", "x[1.5]", "x[T.tensor([0.5])]", "x[T.tensor(1.0)]"])
def test_bad_indices(call):
    """Out of range (numpy's "axis" said as torch's "dimension", and no -1 surprises beyond the
    size), too many indices, float indices."""
    x, tx = pair(2, 3)
    same_error(lambda: eval(call, {"x": x, "T": tinytape}), lambda: eval(call, {"x": tx, "T": torch}), x)


def test_advanced_index_out_of_range_names_the_dimension():
    x = leaf(2, 3)
    with nothing_changes(x), pytest.raises(IndexError, match="index 7 is out of bounds for dimension 1 with size 3"):
        x[:, tinytape.tensor([0, 7])]


def test_float_list_index_is_refused():
    """torch silently truncates [0.5] to [0]; tinytape refuses a float index in any form."""
    x = leaf(2, 3)
    with nothing_changes(x), pytest.raises(IndexError, match="must be long, int, byte or bool"):
        x[[0.5]]


@pytest.mark.parametrize("idx", [[-1, 0], [0, 3]], ids=["-1", "too big"])
def test_embedding_refuses_indices_torch_would_not_wrap(idx):
    w, tw = pair(3, 2)
    kind, message = torch_message(lambda: torch.nn.functional.embedding(torch.tensor(idx), tw))
    assert kind is IndexError and message == "index out of range in self"
    with nothing_changes(w), pytest.raises(IndexError, match="^index out of range in self"):
        TF.embedding(tinytape.tensor(idx), w)


@pytest.mark.parametrize("target", [[-1, 0], [0, 3], [2, -5]], ids=["-1", "too big", "negative"])
@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_losses_refuse_targets_torch_would_not_wrap(fn, target):
    x, tx = pair(2, 3)
    same_error(lambda: getattr(TF, fn)(x, tinytape.tensor(target)),
               lambda: getattr(torch.nn.functional, fn)(tx, torch.tensor(target)), x)


def test_cross_entropy_batch_size_mismatch():
    x, tx = pair(2, 3)
    same_error(lambda: TF.cross_entropy(x, tinytape.tensor([1, 0, 1])),
               lambda: torch.nn.functional.cross_entropy(tx, torch.tensor([1, 0, 1])), x)


def test_cross_entropy_float_targets():
    x = leaf(2, 3)
    with nothing_changes(x), pytest.raises(RuntimeError, match="expected target of integer dtype"):
        TF.cross_entropy(x, tinytape.tensor([1.0, 0.0]))


@pytest.mark.parametrize("idx,classes", [([-1, 0], 3), ([3, 0], 3), ([0, 5], 5)], ids=str)
def test_one_hot_refuses_negative_and_out_of_range(idx, classes):
    same_error(lambda: TF.one_hot(tinytape.tensor(idx), classes),
               lambda: torch.nn.functional.one_hot(torch.tensor(idx), classes))


# ---------------------------------------------------------------------------------- grad flags
@pytest.mark.parametrize("make", [
    lambda: tinytape.tensor([1, 2], requires_grad=True),
    lambda: tinytape.tensor([True], requires_grad=True),
    lambda: tinytape.zeros(3, dtype=tinytape.int64, requires_grad=True),
    lambda: tinytape.arange(3, requires_grad=True),
    lambda: tinytape.tensor([1, 2]).requires_grad_(),
])
def test_integer_tensors_cannot_require_grad(make):
    """torch: 'Only Tensors of floating point and complex dtype ...' from a factory, 'only Tensors of
    floating point dtype ...' from requires_grad_()."""
    before = list(tape._tape)
    with pytest.raises(RuntimeError, match="(?i)only Tensors of floating point (and complex )?dtype can require gradients"):
        make()
    assert tape._tape == before


def test_setting_requires_grad_on_an_integer_leaf():
    x = tinytape.tensor([1, 2])
    with nothing_changes(x), pytest.raises(RuntimeError, match="floating point dtype"):
        x.requires_grad = True


@pytest.mark.parametrize("call", ["y.requires_grad = False", "y.requires_grad = True", "y.requires_grad_(False)"])
def test_requires_grad_on_a_non_leaf(call):
    x, tx = pair(3)
    y, ty = x * 2, tx * 2
    same_error(lambda: exec(call, {"y": y}), lambda: exec(call, {"y": ty}), x, y)


def test_requires_grad_true_on_a_non_leaf_by_method_is_a_no_op_as_in_torch():
    x = leaf(3)
    y = x * 2
    _, tx = pair(3)
    ty = tx * 2
    assert ty.requires_grad_() is ty
    assert y.requires_grad_() is y and y.requires_grad and y.grad_fn.name() == ty.grad_fn.name() == "MulBackward0"


@pytest.mark.parametrize("grad", ["ones(3)", "ones(2, 3, dtype=T.float64)", "ones(2, 3, dtype=T.int64)",
                                  "ones(3, 2)", "ones(2, 3, 1)"])
def test_assigning_a_wrong_grad(grad):
    """Of another shape or dtype: torch's message (torch goes on about its grad_dtype attribute,
    which tinytape does not have)."""
    x, tx = pair(2, 3)
    _, message = torch_message(lambda: setattr(tx, "grad", eval(f"T.{grad}", {"T": torch})))
    g = eval(f"T.{grad}", {"T": tinytape})
    with nothing_changes(x), pytest.raises(RuntimeError) as e:
        x.grad = g
    assert message.startswith(str(e.value)) and len(str(e.value)) > 70


@pytest.mark.parametrize("grad", ["np.ones((2, 3), np.float32)", "[[0.0] * 3] * 2", "1.0"])
def test_assigning_a_grad_that_is_not_a_tensor(grad):
    """.grad is None or a tensor, as in torch: a numpy array is refused too."""
    x, tx = pair(2, 3)
    same_error(lambda: setattr(x, "grad", eval(grad)), lambda: setattr(tx, "grad", eval(grad)), x)


@pytest.mark.parametrize("value", ["5", "np.ones(3, np.float32)", "[1.0, 2.0, 3.0]"])
def test_assigning_data_that_is_not_a_tensor(value):
    x, tx = pair(3)
    same_error(lambda: setattr(x, "data", eval(value)), lambda: setattr(tx, "data", eval(value)), x)


# ---------------------------------------------------------------------------------- in place
LEAF_IN_PLACE = ["x += 1", "x -= 1.5", "x *= 2", "x /= 2", "x.add_(1)", "x.zero_()", "x.fill_(1)",
                 "x.copy_(T.ones(3))", "x.clamp_(0, 1)", "x.masked_fill_(x > 0, 1.0)", "x[...] = 1.0",
                 "x[:] = 1.0", "x[0:2] = 1.0", "x[:, [0]] = 1.0", "x[x > 0] = 1.0", "x[[0]] = 1.0"]
VIEW_OF_LEAF_IN_PLACE = ["x[0] = 1.0", "x[0, 1] = 1.0", "x[:, 1] = 2.0", "x[1:] = 1.0", "x[-5:] = 1.0",
                         "x[None] = 1.0", "x[..., 0] = 1.0", "x[0, [0]] = 1.0", "x[T.tensor(1)] = 1.0"]


@pytest.mark.parametrize("op", LEAF_IN_PLACE + VIEW_OF_LEAF_IN_PLACE)
def test_in_place_on_a_leaf_that_requires_grad(op):
    """torch's two messages: "a leaf Variable ..." when x itself is written, "a view of a leaf
    Variable ..." when the write goes through a view (x[0] = v is x[0].copy_(v), but x[:] and
    x[...] are x itself); nothing is written, no version moves."""
    x, tx = pair(2, 3)
    same_error(lambda: exec(op, {"x": x, "T": tinytape}), lambda: exec(op, {"x": tx, "T": torch}), x)


@pytest.mark.parametrize("op", ["v += 1", "v.add_(1)", "v.zero_()", "v.mul_(2)", "v[0] = 1.0", "v.clamp_(0, 1)"])
@pytest.mark.parametrize("view", ["x[0]", "x.view(6)", "x.T", "x[:, 1:]", "x.unsqueeze(0)", "x[0][1:]"])
def test_in_place_on_a_view_of_a_leaf_that_requires_grad(view, op):
    x, tx = pair(2, 3)
    v, tv = eval(view, {"x": x}), eval(view, {"x": tx})
    same_error(lambda: exec(op, {"v": v}), lambda: exec(op, {"v": tv}), x, v)


def test_in_place_on_a_leaf_under_no_grad_is_the_lecture_update():
    x, tx = pair(3)
    for lib, t in ((tinytape, x), (torch, tx)):
        with lib.no_grad():
            t -= 0.5
            t[0] = 2.0
    np.testing.assert_array_equal(np.asarray(x), tx.detach().numpy())
    assert x._version == tx._version == 2 and x.is_leaf and x.requires_grad


def test_in_place_on_a_tensor_in_the_graph_is_recorded_as_in_torch():
    """y += 1 rewrites y's history (AddBackward0 after MulBackward0); c[0] = v on a constant makes
    c a CopySlices of v; the gradients are torch's."""
    x, tx = pair(3)
    del x.grad
    got = []
    for lib, t in ((tinytape, x), (torch, tx)):
        y = t * 2
        y += 1
        c = lib.zeros(3)
        c[0] = t[1]
        (y * y + c).sum().backward()
        got.append((y.grad_fn.name(), y.grad_fn.next_functions[0][0].name(), repr(c.grad_fn).split(" object")[0],
                    np.asarray(t.grad)))
    assert got[0][:3] == got[1][:3] == ("AddBackward0", "MulBackward0", "<CopySlices")
    np.testing.assert_array_equal(got[0][3], got[1][3])


def test_copy_slices_is_named_as_torch_names_it():
    x, tx = pair(3)
    names = []
    for lib, t in ((tinytape, x), (torch, tx)):
        c = lib.zeros(3)
        c[0] = t[1]
        names.append(c.grad_fn.name())
    assert names[0] == names[1]


WRITTEN_AFTER_SAVED = {
    "a constant": "c = T.full((3,), 2.0); y = (x * c).sum(); c += 1",
    "an output": "e = x.exp(); y = e.sum()\nwith T.no_grad(): e += 1",
    "an output, recorded": "e = x.exp(); e += 1; y = e.sum()",
    "a view of a constant": "c = T.full((3,), 2.0); y = (x * c).sum(); c[1:][0] = 7.0",
    "through detach": "y = (x * x).sum(); x.detach()[0] = 5.0",
    "a rewritten history": "u = x * 2; y = (u * u).sum(); u += 1",
    "through setitem": "u = (x * 2).tanh(); y = u.sum(); u[0] = 0.0",
    "through a view": "u = x.sigmoid(); y = u.sum(); u[1:].mul_(2)",
    "the weights": "W = T.ones(3, 2, requires_grad=True); y = (x[None] @ W).sum()\nwith T.no_grad(): W -= 0.1",
}


@pytest.mark.parametrize("code", WRITTEN_AFTER_SAVED.values(), ids=list(WRITTEN_AFTER_SAVED))
def test_backward_through_a_value_written_in_place_after_it_was_saved(code):
    """torch's version check: its message up to its hint (tinytape's hint says how to fix it);
    the failed backward writes no .grad."""
    x, tx = pair(3)
    tt, th = {"x": x, "T": tinytape}, {"x": tx, "T": torch}
    exec(code, tt)
    exec(code, th)
    _, message = torch_message(lambda: th["y"].backward())
    with nothing_changes(x), pytest.raises(RuntimeError) as e:
        tt["y"].backward()
    mine = str(e.value).split(" Hint: ")
    assert mine[0].replace("[tinytape.", "[torch.") == message.split(" Hint: ")[0]
    assert "run the forward pass again" in mine[1]


@pytest.mark.parametrize("op", ["e.add_(1)", "e += 1", "e[0] = 5.0", "e[:] = 3.0", "e.mul_(2)", "e.copy_(T.ones(3, 4))",
                                "e.clamp_(0, 0.5)", "e.zero_()", "e.fill_(2.0)", "e.masked_fill_(e > 0, 1.0)"])
@pytest.mark.parametrize("grad", [False, True])
def test_in_place_through_an_expanded_tensor(op, grad):
    """More than one element of e is one memory location: torch refuses to write it. A documented
    difference: torch lets zero_, fill_ and masked_fill_ (deprecated) write one value into the shared
    memory (in a graph, its backward then raises this error); tinytape refuses them at the write."""
    x, tx = pair(3, 1, grad=grad)
    e, te = (x * 1).expand(3, 4), (tx * 1).expand(3, 4)
    if op.split("(")[0] in ("e.zero_", "e.fill_", "e.masked_fill_"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")               # torch's deprecation warning for masked_fill_
            exec(op, {"e": te, "T": torch})               # torch writes
        with nothing_changes(x, e), pytest.raises(RuntimeError, match="^unsupported operation: more than one "
                                                                      "element of the written-to tensor"):
            exec(op, {"e": e, "T": tinytape})
        return
    same_error(lambda: exec(op, {"e": e, "T": tinytape}), lambda: exec(op, {"e": te, "T": torch}), x, e)


@pytest.mark.parametrize("op", ["x[::-1]", "x[:, ::-2]", "x[::-1] = 1.0", "x[::0]"])
def test_negative_slice_steps_are_refused_as_in_torch(op):
    """numpy would reverse; torch refuses."""
    x, tx = pair(2, 3, grad=False)
    same_error(lambda: exec(op, {"x": x}), lambda: exec(op, {"x": tx}), x)


@pytest.mark.parametrize("op", ["x += 1.5", "x /= 2", "x *= T.tensor([1.0, 2.0, 3.0])"])
def test_in_place_that_cannot_cast(op):
    a = np.array([1, 2, 3])
    x, tx = tinytape.tensor(a), torch.tensor(a)
    same_error(lambda: exec(op, {"x": x, "T": tinytape}), lambda: exec(op, {"x": tx, "T": torch}), x)


@pytest.mark.parametrize("op", ["x += T.ones(4)", "x *= T.ones(2, 1, 3)", "x[0] = T.ones(4)",
                                "x[:, 1] = T.ones(3)"])
def test_in_place_shape_errors(op):
    a = np.ones((2, 3), dtype=np.float32)
    x, tx = tinytape.tensor(a), torch.tensor(a)
    same_error(lambda: exec(op, {"x": x, "T": tinytape}), lambda: exec(op, {"x": tx, "T": torch}), x)


# ---------------------------------------------------------------------------------- operands, views, devices
OPERANDS = ["x + [1.0, 2.0, 3.0]", "x - (1, 2, 3)", "x * [1, 2]", "x * (1, 2)", "x / [1.0]", "x @ [[1.0]]",
            "[1, 2] + x", "(1, 2) - x", "[1.0] * x", "x < [1, 2, 3]", "x + 'a'", "x + None", "x ** [2]",
            "x - m", "m - x", "x * m", "x + n", "x / m", "x @ m", "x > m"]


@pytest.mark.parametrize("op", OPERANDS)
def test_operands_that_are_not_tensors_or_numbers(op):
    """Lists, tuples and max(dim)'s named tuple (m = x.max(1), n = x.min(0)) are no operands: Python's
    TypeError naming both types (tinytape.return_types.max where torch says torch.return_types.max),
    never a broadcast."""
    x, tx = pair(2, 3)
    m, n, tm, tn = x.max(1), x.min(0), tx.max(1), tx.min(0)
    kind, message = torch_message(lambda: eval(op, {"x": tx, "m": tm, "n": tn}))
    with nothing_changes(x, m.values, n.values), pytest.raises(kind) as e:
        eval(op, {"x": x, "m": m, "n": n})
    assert type(e.value) is kind and str(e.value) == message.replace("torch.return_types", "tinytape.return_types")


@pytest.mark.parametrize("make,shape", [("x.view(3, 2).T", (6,)), ("x.T", (-1,)), ("x.T", (2, 3)), ("x[:, :2]", (4,)),
                                        ("x.expand(2, 2, 3)", (12,)), ("x.T[1:]", (4,))], ids=str)
def test_view_of_a_non_contiguous_tensor(make, shape):
    """torch's message; reshape copies instead, and gives the same values as torch's."""
    x, tx = pair(2, 3)
    v, tv = eval(make, {"x": x}), eval(make, {"x": tx})
    same_error(lambda: v.view(*shape), lambda: tv.view(*shape), x, v)
    np.testing.assert_array_equal(v.reshape(*shape).detach().numpy(), tv.reshape(*shape).detach().numpy())


@pytest.mark.parametrize("call,device", [
    ("T.ones(2, device='cuda')", "cuda"), ("T.zeros(2, device='cuda:0')", "cuda:0"), ("x.to('cuda')", "cuda"),
    ("x.cuda()", "cuda"), ("T.tensor([1.0], device='mps')", "mps"), ("T.ones(2, device='xyz')", "xyz"),
    ("T.arange(3, device='cuda')", "cuda"), ("T.full((2,), 1.0, device='cuda')", "cuda")])
def test_a_device_other_than_the_cpu(call, device):
    """tinytape's own words (naming the device); the type catches torch's and is caught where
    torch's is: AssertionError for CUDA on a CPU-only build, RuntimeError otherwise."""
    x, tx = pair(2, 3)
    kind, _ = torch_message(lambda: eval(call, {"x": tx, "T": torch}))
    with nothing_changes(x), pytest.raises(kind, match="^tinytape runs on the CPU only") as e:
        eval(call, {"x": x, "T": tinytape})
    assert isinstance(e.value, RuntimeError) and isinstance(e.value, AssertionError)
    assert f"device '{device}' is not available" in str(e.value)
    assert x.to("cpu") is x and x.cpu() is x


# ---------------------------------------------------------------------------------- the rest
def test_numpy_on_a_tensor_that_requires_grad():
    x, tx = pair(3)
    same_error(lambda: x.numpy(), lambda: tx.numpy(), x)
    assert np.shares_memory(x.detach().numpy(), x.data.numpy()) and x.detach().numpy() is np.asarray(x)


@pytest.mark.parametrize("dtype", [np.float16, object, np.complex64, np.complex128, np.uint16, "U3"],
                         ids=str)
def test_unsupported_dtypes(dtype):
    a = np.array([1, 2, 3]).astype(dtype)
    for make in (tinytape.tensor, tinytape.from_numpy, tinytape.as_tensor, lambda a: tinytape.tensor([1.0], dtype=a.dtype),
                 lambda a: tinytape.zeros(2, dtype=a.dtype), lambda a: tinytape.tensor([1.0]).to(a.dtype)):
        with pytest.raises(TypeError, match="tinytape does not support dtype|tensor data must be numbers"):
            make(a)
    with pytest.raises(TypeError, match="dtype float16"):
        tinytape.tensor([1.0], requires_grad=True).to(np.float16)


@pytest.mark.parametrize("call", ["x.item()", "bool(x)", "x.clamp()",
                                  "T.cat([x, T.ones(3, 4)])", "T.cat([x, T.ones(3)])",
                                  "T.stack([x, T.ones(2, 4)])", "x.expand(3, 3)", "x.expand(2)",
                                  "x.long().mean()", "x.long().var()"])
def test_other_misuse_in_torchs_words(call):
    x, tx = pair(2, 3)
    same_error(lambda: eval(call, {"x": x, "T": tinytape}), lambda: eval(call, {"x": tx, "T": torch}), x)


def test_integer_tensor_to_a_negative_integer_power():
    a = np.array([1, 2, 3])
    x = tinytape.tensor(a)
    same_error(lambda: x ** -1, lambda: torch.tensor(a) ** -1, x)


def test_pow_with_an_exponent_that_requires_grad():
    x, p = leaf(3), leaf(3, seed=1)
    with nothing_changes(x, p), pytest.raises(TypeError, match="scalar exponent only"):
        x ** p


def test_batch_norm_with_wrong_sizes_changes_no_running_statistics():
    x, one = leaf(8, 3), leaf(1, 3)
    rm, rv = np.zeros(3, dtype=np.float32), np.ones(3, dtype=np.float32)
    w, b = leaf(4, seed=1), leaf(3, seed=2)
    with nothing_changes(x, w, b, arrays=(rm, rv)), pytest.raises(RuntimeError, match="weight should have 3 elem"):
        TF.batch_norm(x, rm, rv, w, b, training=True)
    with nothing_changes(x, b, arrays=(rm, rv)), pytest.raises(RuntimeError, match="running_var should have 3"):
        TF.batch_norm(x, rm, np.ones(2, dtype=np.float32), None, b, training=True)
    with nothing_changes(one, arrays=(rm, rv)), pytest.raises(ValueError, match="more than 1 value per channel"):
        TF.batch_norm(one, rm, rv, training=True)
    x3 = leaf(2, 4, 3)
    with nothing_changes(x3, arrays=(rm, rv)), pytest.raises(ValueError, match="expected 2D input"):
        TF.batch_norm(x3, rm, rv, training=True)
