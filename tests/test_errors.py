"""Misuse: each error has its type, its message (torch's words where torch has them, compared with
torch's own message on the same call), and changes nothing (no tape entry, no .grad, no data)."""
import contextlib

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
    """The block may raise (inside pytest.raises); afterwards the tape, each tensor's data, grad,
    flags and node, and each array are exactly as before."""
    tape_before = list(tape._tape)
    state = [(t.data, t.data.copy(), t.grad, None if t.grad is None else t.grad.copy(), t.requires_grad, t._node)
             for t in tensors]
    arrays_before = [a.copy() for a in arrays]
    yield
    assert len(tape._tape) == len(tape_before) and all(a is b for a, b in zip(tape._tape, tape_before)), \
        "the tape changed"
    for t, (data, data_copy, grad, grad_copy, rg, node) in zip(tensors, state):
        assert t.data is data
        np.testing.assert_array_equal(t.data, data_copy, err_msg="data was written")
        assert t.grad is grad, ".grad was replaced"
        if grad is not None:
            np.testing.assert_array_equal(t.grad, grad_copy, err_msg=".grad was written")
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
        x.grad = np.full(shape, 0.5, dtype=dtype)
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
    same_error(lambda: BINARY[op](x, y.data), lambda: BINARY[op](tx, ty.detach()), x, arrays=(y.data,))


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
    before = list(tape._tape)
    with pytest.raises(RuntimeError, match="only Tensors of floating point dtype can require gradients"):
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
    assert y.requires_grad_() is y and y.requires_grad and y.grad_fn == "mul"


@pytest.mark.parametrize("grad,message", [
    (np.ones(3, dtype=np.float32), "attempting to assign a gradient of size '[3]' to a tensor of size '[2, 3]'"),
    (np.ones((2, 3)), "attempting to assign a gradient with dtype 'double' to a tensor with grad_dtype 'Float'"),
    (np.ones((2, 3), dtype=np.int64), "attempting to assign a gradient with dtype 'long int' to a tensor with "
                                      "grad_dtype 'Float'"),
], ids=["shape", "float64", "int64"])
def test_assigning_a_wrong_grad(grad, message):
    x, tx = pair(2, 3)
    _, torch_msg = torch_message(lambda: setattr(tx, "grad", torch.tensor(grad)))
    assert torch_msg.startswith(message)
    with nothing_changes(x), pytest.raises(RuntimeError) as e:
        x.grad = grad
    assert str(e.value).startswith(message)


# ---------------------------------------------------------------------------------- in place
@pytest.mark.parametrize("op", ["x += 1", "x -= 1.5", "x *= 2", "x /= 2", "x[0] = 1.0"])
def test_in_place_on_a_leaf_that_requires_grad(op):
    x, tx = pair(2, 3)
    torch_message(lambda: exec(op, {"x": tx}))
    with nothing_changes(x), pytest.raises(RuntimeError, match="leaf Variable that requires grad is being used "
                                                               "in an in-place operation"):
        exec(op, {"x": x})


def test_in_place_on_a_leaf_under_no_grad_is_the_lecture_update():
    x = leaf(3)
    before = x.data.copy()
    with tinytape.no_grad():
        x -= 0.5
        x[0] = 2.0
    np.testing.assert_array_equal(x.data, np.r_[2.0, before[1:] - 0.5].astype(np.float32))


def test_in_place_on_a_tensor_in_the_graph():
    """torch allows it (and checks versions at backward); tinytape refuses, with the way out."""
    x = leaf(3)
    y = x * 2
    with nothing_changes(x, y), pytest.raises(RuntimeError, match="compute out of place"):
        y += 1
    c, v = tinytape.tensor([1.0, 2.0, 3.0]), x[0]
    with nothing_changes(x, c, v), pytest.raises(RuntimeError, match="compute out of place"):
        c[0] = v                                          # writing a tensor that requires grad


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


# ---------------------------------------------------------------------------------- the rest
def test_numpy_on_a_tensor_that_requires_grad():
    x, tx = pair(3)
    same_error(lambda: x.numpy(), lambda: tx.numpy(), x)
    assert x.detach().numpy() is x.data


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
