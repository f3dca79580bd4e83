"""The misuse contract, docs/misuse.md: one test per line of its tables, and a test that the tables
and the tests name the same lines.

An error line is a `Misuse` in CASES. It runs inside a `World`: a small model in mid-training
(parameters holding the last step's .grad, batchnorm running statistics that have moved, a recorded
graph the user still holds). The test asserts the exception type, a message that names the problem
(torch's own message, compared on the same call, where tinytape uses torch's words), that the
exception type catches torch's (code written for one works with the other), and that NOTHING
changed: every parameter's data and .grad, the running statistics, the live tape entries and their
nodes, grad mode. Then the next valid step (backward of the held graph, an update, two more steps)
must give bit-identical parameters, gradients and statistics to a twin world that never saw the
error. An outcome line (no error: a dtype rule, a value at the limits) is a test function marked
with @outcome, comparing tinytape with torch on identical inputs, with RuntimeWarnings as errors.
"""
import contextlib
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import pytest
import torch

import nn
import tinytape
import tinytape.functional as F
from harness import COMPOSITE, EXACT, REDUCE, ULP, assert_close
from tinytape import tape

TF = torch.nn.functional
DOC = Path(__file__).resolve().parents[1] / "docs" / "misuse.md"


# ---------------------------------------------------------------------------------- the world
class World:
    """Embedding -> Flatten -> Linear -> BatchNorm1d (torch's running statistics) -> Tanh -> Linear,
    one SGD step taken, and a forward pass recorded and held (`held`), not yet backpropagated."""

    def __init__(self):
        g = np.random.default_rng(0)
        self.emb, self.lin = nn.Embedding(10, 4, generator=g), nn.Linear(12, 16, generator=g)
        self.bn, self.out = nn.BatchNorm1d(16, momentum=0.1), nn.Linear(16, 10, generator=g)
        self.model = nn.Sequential(self.emb, nn.Flatten(), self.lin, self.bn, nn.Tanh(), self.out)
        rows = np.random.default_rng(1)
        self.X, self.Y = rows.integers(0, 10, (64, 3)), rows.integers(0, 10, 64)
        self.params = self.model.parameters()
        self.opt = nn.SGD(self.params, 0.1)
        self.step(0)
        self.held = self.loss(1)

    def loss(self, k):
        rows = slice(8 * k, 8 * k + 8)
        return F.cross_entropy(self.model(self.X[rows]), self.Y[rows])

    def step(self, k):
        loss = self.loss(k)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()

    def next_step(self):
        """What a user does next, correctly: backpropagate the held graph, update, train on."""
        if self.held is not None:
            self.held.backward()
            self.opt.step()
        self.step(2)
        self.step(3)

    def arrays(self):
        """name -> (the object, a copy of its values, its version) for every parameter's memory, every
        .grad tensor and every buffer's memory (a failed call must replace, write and bump none)."""
        out = {}
        for name, p in self.model.named_parameters():
            out[name] = (np.asarray(p), np.array(p, copy=True), p._version)
            g = p.grad
            out[name + ".grad"] = (g, None if g is None else np.array(g, copy=True), None if g is None else g._version)
        for name, b in self.model.named_buffers():
            out[name] = (np.asarray(b), np.array(b, copy=True), b._version)
        return out


def assert_unchanged(before, after, what):
    assert before.keys() == after.keys()
    for k, (obj, copy, version) in before.items():
        now, _, now_version = after[k]
        assert now is obj, f"{what}: {k} was replaced"
        if copy is not None:
            np.testing.assert_array_equal(np.asarray(now), copy, err_msg=f"{what}: {k} was written")
        assert now_version == version, f"{what}: {k}'s version counter moved (an in-place write happened)"


def assert_same_arrays(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if a[k][1] is None or b[k][1] is None:
            assert a[k][1] is None and b[k][1] is None, k
            continue
        assert a[k][1].dtype == b[k][1].dtype, k
        np.testing.assert_array_equal(a[k][1], b[k][1], err_msg=f"{k} differs from the run that never saw the error")


def live():
    return [(t, t._node) for t in tape.entries()]


# ---------------------------------------------------------------------------------- error lines
@dataclass
class Misuse:
    id: str
    call: Callable                    # call(world, ctx): the misuse, which must raise
    error: type                       # tinytape's exception type
    match: str                        # a regex on tinytape's message: it names the problem
    torch: Optional[Callable] = None  # the same misuse in torch, when torch has one
    same: str = ""                    # "exact": torch's message; "prefix": the start of torch's;
                                      # "head": the same text before the first ':'; "hint": the same
                                      # text before " Hint: " (tinytape's hint says how to fix it);
                                      # "described": the same text before " is at version"
    torch_accepts: bool = False       # torch allows it (a documented difference)
    setup: Optional[Callable] = None  # setup(world) -> ctx: valid preparation, done by the twin too
    torch_catches: bool = False       # torch's type is not one: `except <torch's type>` catches ours


def t_leaf(*shape, seed=0, dtype=np.float32, grad=True):
    return torch.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=grad)


def leaf(*shape, seed=0, dtype=np.float32, grad=True):
    return tinytape.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype), requires_grad=grad)


def raise_in(fn):
    """Run fn, which must raise; return its exception (traceback dropped, so that the tensors the
    failed call made die now and leave no live tape entries behind)."""
    try:
        fn()
    except Exception as e:
        e.__traceback__ = None
        return e
    pytest.fail("no exception")


# setups: valid work, done identically in the twin world
def _graph_then_backward(w):
    loss = w.loss(2)
    loss.backward()
    return loss


def _update_before_backward(w):
    """The classic slip: parameters updated (in place, as tensors) between forward and backward."""
    loss = w.loss(2)
    with tinytape.no_grad():
        for p in w.params:
            p -= 0.1 * p.grad
    w.held = None                                         # stale too: its matmul saved the weights
    return loss


def _constant_written(w):
    c = tinytape.tensor(np.full(16, 2.0, np.float32))
    y = (w.lin(tinytape.ones(1, 12)) * c).sum()
    c += 1
    return y


def _written_in_graph(w):
    """Recorded in grad mode (torch allows it): exp saved its output, which += then overwrites."""
    e = w.lin.bias.exp()
    e += 1
    return e.sum()


def _output_written(w):
    e = w.lin.bias.exp()
    y = e.sum()
    with tinytape.no_grad():
        e += 1
    return y


def _view_written(w):
    c = tinytape.tensor(np.full(16, 2.0, np.float32))
    y = (w.lin.bias * c).sum()
    v = c[4:8]                                            # a view of c's memory
    v[0] = 7.0
    return y


def _detached_written(w):
    x = leaf(3)
    y = (x * x).sum()
    d = x.detach()                                        # shares x's memory, as in torch
    d[0] = 5.0
    return y


def _no_grad_loss(w):
    with tinytape.no_grad():
        return w.loss(2)


def _logits(w):
    return w.model(w.X[:4])


def _torch_update_before_backward():
    W = t_leaf(16, 10)
    h = t_leaf(4, 16)                                     # an input that requires grad: torch saves W
    loss = (h @ W).sum()
    with torch.no_grad():
        W -= 0.1
    loss.backward()


def _torch_constant_written():
    x, c = t_leaf(16), torch.full((16,), 2.0)
    y = (x * c).sum()
    c += 1
    y.backward()


def _torch_output_written():
    x = t_leaf(16)
    e = x.exp()
    y = e.sum()
    with torch.no_grad():
        e += 1
    y.backward()


def _torch_written_in_graph():
    e = t_leaf(16).exp()
    e += 1
    e.sum().backward()


def _torch_view_written():
    x, c = t_leaf(16), torch.full((16,), 2.0)
    y = (x * c).sum()
    c[4:8][0] = 7.0
    y.backward()


def _torch_detached_written():
    x = t_leaf(3)
    y = (x * x).sum()
    x.detach()[0] = 5.0
    y.backward()


def _torch_float_into_int():
    n = torch.tensor(0)
    n += 0.5


def _torch_batch_of_one():
    torch.nn.BatchNorm1d(16)(torch.ones(1, 16))


def _torch_linear(*shape):
    torch.nn.Linear(12, 16)(torch.ones(*shape))


CASES = [
    # construction
    Misuse("int-requires-grad", lambda w, c: tinytape.tensor([1, 2], requires_grad=True), RuntimeError,
           "Only Tensors of floating point and complex dtype can require gradients",
           lambda: torch.tensor([1, 2], requires_grad=True)),
    Misuse("bool-requires-grad", lambda w, c: tinytape.tensor([True, False], requires_grad=True), RuntimeError,
           "Only Tensors of floating point and complex dtype can require gradients",
           lambda: torch.tensor([True, False], requires_grad=True)),
    Misuse("int-requires-grad-later", lambda w, c: tinytape.tensor([1, 2]).requires_grad_(), RuntimeError,
           "only Tensors of floating point dtype can require gradients",
           lambda: torch.tensor([1, 2]).requires_grad_()),
    Misuse("object-data", lambda w, c: tinytape.tensor(np.array([object(), 1.0])), TypeError,
           "tensor data must be numbers, got objects of type object", lambda: torch.tensor(np.array([object(), 1.0]))),
    Misuse("none-in-list", lambda w, c: tinytape.tensor([None, 1.0]), TypeError,
           "tensor data must be numbers, got objects of type NoneType"),
    Misuse("float16-data", lambda w, c: tinytape.tensor(np.ones(2, np.float16), requires_grad=True), TypeError,
           "tinytape does not support dtype float16: use float32 or float64",
           lambda: torch.tensor(np.ones(2, np.float16), requires_grad=True), torch_accepts=True),
    Misuse("string-data", lambda w, c: tinytape.tensor(["a", "b"]), TypeError, "does not support dtype <U1"),
    Misuse("ragged-list", lambda w, c: tinytape.tensor([[1.0, 2.0], [3.0]], requires_grad=True), ValueError,
           r"expected sequence of length 2 at dim 1 \(got 1\)",
           lambda: torch.tensor([[1.0, 2.0], [3.0]], requires_grad=True), "exact"),
    Misuse("mixed-float-matmul", lambda w, c: leaf(2, 3) @ leaf(3, 2, dtype=np.float64), RuntimeError,
           "expected m1 and m2 to have the same dtype, but got: float != double",
           lambda: t_leaf(2, 3) @ t_leaf(3, 2, dtype=np.float64), "exact"),
    Misuse("mixed-float-linear", lambda w, c: w.lin(tinytape.ones(2, 12, dtype=tinytape.float64)), RuntimeError,
           "mat1 and mat2 must have the same dtype, but got Double and Float",
           lambda: torch.nn.Linear(12, 16)(torch.ones(2, 12, dtype=torch.float64)), "exact"),
    Misuse("mixed-float-batchnorm", lambda w, c: w.bn(tinytape.ones(4, 16, dtype=tinytape.float64)), RuntimeError,
           r"mixed dtype \(CPU\): all inputs must share same datatype\. \(input is float64, weight is float32\)",
           lambda: torch.nn.BatchNorm1d(16)(torch.ones(4, 16, dtype=torch.float64)), "head"),
    # autograd state
    Misuse("backward-non-scalar", lambda w, c: w.lin(tinytape.ones(2, 12)).backward(), RuntimeError,
           "grad can be implicitly created only for scalar outputs",
           lambda: torch.nn.Linear(12, 16)(torch.ones(2, 12)).backward(), "exact"),
    Misuse("backward-wrong-shape", lambda w, c: w.lin(tinytape.ones(2, 12)).backward(np.ones(16, np.float32)),
           RuntimeError, r"Mismatch in shape: grad_output\[0\] has a shape of \(16,\) and output\[0\] has a shape "
                         r"of \(2, 16\)",
           lambda: torch.nn.Linear(12, 16)(torch.ones(2, 12)).backward(torch.ones(16)), "head"),
    Misuse("backward-twice", lambda w, loss: loss.backward(), RuntimeError,
           "Trying to backward through the graph a second time",
           lambda: [y.backward() for y in [(t_leaf(3).exp()).sum()] for _ in range(2)], "exact",
           setup=_graph_then_backward),
    Misuse("backward-nothing-requires-grad", lambda w, c: tinytape.ones(3).sum().backward(),
           RuntimeError, "element 0 of tensors does not require grad and does not have a grad_fn",
           lambda: torch.ones(3).sum().backward(), "exact"),
    Misuse("backward-under-no-grad", lambda w, loss: loss.backward(), RuntimeError,
           "element 0 of tensors does not require grad and does not have a grad_fn",
           lambda: _torch_no_grad_backward(), "exact", setup=_no_grad_loss),
    Misuse("grad-wrong-shape", lambda w, c: setattr(w.lin.weight, "grad", tinytape.zeros(16, 12)),
           RuntimeError, r"attempting to assign a gradient of size '\[16, 12\]' to a tensor of size '\[12, 16\]'",
           lambda: setattr(t_leaf(12, 16), "grad", torch.zeros(16, 12)), "exact"),
    Misuse("grad-wrong-dtype", lambda w, c: setattr(w.lin.weight, "grad", tinytape.zeros(12, 16, dtype=tinytape.float64)),
           RuntimeError, "attempting to assign a gradient with dtype 'double' to a tensor with grad_dtype 'Float'",
           lambda: setattr(t_leaf(12, 16), "grad", torch.zeros(12, 16, dtype=torch.float64)), "prefix"),
    Misuse("grad-not-tensor", lambda w, c: setattr(w.lin.bias, "grad", [0.0] * 16), TypeError,
           "assigned grad expected to be a Tensor or None but got grad of type list",
           lambda: setattr(t_leaf(16), "grad", [0.0] * 16), "exact"),
    Misuse("grad-ndarray", lambda w, c: setattr(w.lin.bias, "grad", np.ones(16, np.float32)), TypeError,
           "assigned grad expected to be a Tensor or None but got grad of type numpy.ndarray",
           lambda: setattr(t_leaf(16), "grad", np.ones(16, np.float32)), "exact"),
    Misuse("data-not-tensor", lambda w, c: setattr(w.lin.bias, "data", 5), TypeError,
           "Variable data has to be a tensor, but got int", lambda: setattr(t_leaf(16), "data", 5), "exact"),
    Misuse("requires-grad-non-leaf", lambda w, c: setattr(w.held, "requires_grad", False), RuntimeError,
           "you can only change requires_grad flags of leaf variables",
           lambda: setattr(t_leaf(3) * 2, "requires_grad", False), "exact"),
    Misuse("retain-grad-no-grad", lambda w, c: tinytape.ones(3).retain_grad(), RuntimeError,
           "can't retain_grad on Tensor that has requires_grad=False", lambda: torch.ones(3).retain_grad(), "exact"),
    Misuse("inplace-on-leaf", lambda w, c: w.lin.weight.__iadd__(1.0), RuntimeError,
           "a leaf Variable that requires grad is being used in an in-place operation",
           lambda: t_leaf(3).__iadd__(1.0), "exact"),
    Misuse("setitem-on-leaf", lambda w, c: w.lin.bias.__setitem__(0, 1.0), RuntimeError,
           "^a view of a leaf Variable that requires grad is being used in an in-place operation",
           lambda: t_leaf(16).__setitem__(0, 1.0), "exact"),
    Misuse("inplace-on-view-of-leaf", lambda w, c: w.lin.weight.T.mul_(2), RuntimeError,
           "^a view of a leaf Variable that requires grad is being used in an in-place operation",
           lambda: t_leaf(12, 16).T.mul_(2), "exact"),
    Misuse("inplace-through-expand", lambda w, c: (w.lin.bias * 1).expand(4, 16).add_(1), RuntimeError,
           "^unsupported operation: more than one element of the written-to tensor refers to a single memory "
           r"location\. Please clone\(\) the tensor before performing the operation\.",
           lambda: (t_leaf(16) * 1).expand(4, 16).add_(1), "exact"),
    Misuse("inplace-float-into-int", lambda w, c: w.bn.num_batches_tracked.__iadd__(0.5), RuntimeError,
           "result type Float can't be cast to the desired output type Long", _torch_float_into_int, "exact"),
    Misuse("update-before-backward", lambda w, loss: loss.backward(), RuntimeError,
           r"^one of the variables needed for gradient computation has been modified by an inplace operation: "
           r"\[tinytape.FloatTensor \[16, 10\]\] is at version \d+; expected version \d+ instead\. Hint: .*"
           r"run the forward pass again after the update",
           _torch_update_before_backward, "described", setup=_update_before_backward),
    Misuse("constant-written", lambda w, y: y.backward(), RuntimeError,
           r"modified by an inplace operation: \[tinytape.FloatTensor \[16\]\] is at version 1; expected version 0",
           _torch_constant_written, "hint", setup=_constant_written),
    Misuse("output-written", lambda w, y: y.backward(), RuntimeError,
           r"modified by an inplace operation: \[tinytape.FloatTensor \[16\]\], which is output 0 of Exp, is at "
           r"version 1; expected version 0", _torch_output_written, "hint", setup=_output_written),
    Misuse("written-in-graph", lambda w, y: y.backward(), RuntimeError,
           r"modified by an inplace operation: \[tinytape.FloatTensor \[16\]\], which is output 0 of Exp, is at "
           r"version 1; expected version 0", _torch_written_in_graph, "hint", setup=_written_in_graph),
    Misuse("view-written", lambda w, y: y.backward(), RuntimeError,
           r"modified by an inplace operation: \[tinytape.FloatTensor \[16\]\] is at version 1; expected version 0",
           _torch_view_written, "hint", setup=_view_written),
    Misuse("detached-written", lambda w, y: y.backward(), RuntimeError,
           r"modified by an inplace operation: \[tinytape.FloatTensor \[3\]\] is at version 1; expected version 0",
           _torch_detached_written, "hint", setup=_detached_written),
    Misuse("numpy-requires-grad", lambda w, c: w.lin.weight.numpy(), RuntimeError,
           r"Can't call numpy\(\) on Tensor that requires grad", lambda: t_leaf(3).numpy(), "exact"),
    Misuse("item-not-scalar", lambda w, c: w.lin.bias.item(), RuntimeError,
           "a Tensor with 16 elements cannot be converted to Scalar", lambda: t_leaf(16).item(), "exact"),
    # shapes
    Misuse("matmul-shapes", lambda w, c: leaf(2, 3) @ leaf(4, 5), RuntimeError,
           r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)", lambda: t_leaf(2, 3) @ t_leaf(4, 5), "exact"),
    Misuse("matmul-0d", lambda w, c: leaf() @ leaf(2, 2), RuntimeError,
           "both arguments to matmul need to be at least 1D, but they are 0D and 2D",
           lambda: t_leaf() @ t_leaf(2, 2), "exact"),
    Misuse("broadcast", lambda w, c: leaf(2, 3) + w.lin.bias, RuntimeError,
           r"The size of tensor a \(3\) must match the size of tensor b \(16\) at non-singleton dimension 1",
           lambda: t_leaf(2, 3) + t_leaf(16), "exact"),
    Misuse("operand-list", lambda w, c: w.lin.bias + [1.0] * 16, TypeError,
           r"unsupported operand type\(s\) for \+: 'Tensor' and 'list'", lambda: t_leaf(16) + [1.0] * 16, "exact"),
    Misuse("max-named-tuple", lambda w, logits: logits - logits.max(1), TypeError,
           r"unsupported operand type\(s\) for -: 'Tensor' and 'tinytape\.return_types\.max'",
           lambda: (lambda x: x - x.max(1))(t_leaf(4, 10)), "exact", setup=_logits),
    Misuse("view-non-contiguous", lambda w, c: w.lin.weight.T.view(-1), RuntimeError,
           r"view size is not compatible with input tensor's size and stride .*Use \.reshape\(\.\.\.\) instead\.",
           lambda: t_leaf(12, 16).T.view(-1), "exact"),
    Misuse("device-not-cpu", lambda w, c: w.lin.weight.to("cuda"), tinytape.errors.DeviceError,
           r"tinytape runs on the CPU only \(numpy\): device 'cuda' is not available",
           lambda: t_leaf(3).to("cuda"), torch_catches=True),
    Misuse("reshape-invalid", lambda w, c: w.lin.weight.view(5, -1), RuntimeError,
           r"shape '\[5, -1\]' is invalid for input of size 192", lambda: t_leaf(12, 16).view(5, -1), "exact"),
    Misuse("reshape-empty-ambiguous", lambda w, c: tinytape.zeros(0, 3, requires_grad=True).reshape(-1, 0),
           RuntimeError, "cannot reshape tensor of 0 elements into shape \\[-1, 0\\] because the unspecified "
                         "dimension size -1 can be any value and is ambiguous",
           lambda: torch.zeros(0, 3, requires_grad=True).reshape(-1, 0), "exact"),
    Misuse("dim-out-of-range", lambda w, c: w.lin.weight.sum(2), IndexError,
           r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)",
           lambda: t_leaf(12, 16).sum(2), "exact"),
    Misuse("dim-repeated", lambda w, c: w.lin.weight.sum((1, -1)), RuntimeError,
           "dim 1 appears multiple times in the list of dims", lambda: t_leaf(12, 16).sum((1, -1)), "exact"),
    Misuse("max-over-empty-dim", lambda w, c: tinytape.zeros(0, 3, requires_grad=True).max(0), IndexError,
           r"max\(\): Expected reduction dim 0 to have non-zero size",
           lambda: torch.zeros(0, 3, requires_grad=True).max(0), "exact"),
    Misuse("max-of-empty", lambda w, c: tinytape.zeros(0, 3, requires_grad=True).max(), RuntimeError,
           r"max\(\): Expected reduction dim to be specified for input.numel\(\) == 0",
           lambda: torch.zeros(0, 3, requires_grad=True).max(), "exact"),
    # indexing
    Misuse("index-out-of-range", lambda w, c: w.lin.weight[12], IndexError,
           "index 12 is out of bounds for dimension 0 with size 12", lambda: t_leaf(12, 16)[12], "exact"),
    Misuse("index-tensor-out-of-range", lambda w, c: w.lin.weight[:, tinytape.tensor([0, -17])], IndexError,
           "index -17 is out of bounds for dimension 1 with size 16",
           lambda: t_leaf(12, 16)[:, torch.tensor([0, -17])]),
    Misuse("float-index", lambda w, c: w.lin.weight[tinytape.tensor([0.0, 1.0])], IndexError,
           "tensors used as indices must be long, int, byte or bool tensors",
           lambda: t_leaf(12, 16)[torch.tensor([0.0, 1.0])], "exact"),
    Misuse("float-list-index", lambda w, c: w.lin.weight[[0.5]], IndexError,
           "tensors used as indices must be long, int, byte or bool tensors",
           lambda: t_leaf(12, 16)[[0.5]], torch_accepts=True),
    Misuse("mask-wrong-shape", lambda w, c: w.lin.weight[:, tinytape.tensor([True, False])], IndexError,
           r"The shape of the mask \[2\] at index 0 does not match the shape of the indexed tensor \[12, 16\] at "
           r"index 1", lambda: t_leaf(12, 16)[:, torch.tensor([True, False])], "exact"),
    Misuse("embedding-minus-one", lambda w, c: w.emb(tinytape.tensor([[1, -1, 2]])), IndexError,
           r"^index out of range in self: embedding indices must be in \[0, 9\], got -1",
           lambda: torch.nn.Embedding(10, 4)(torch.tensor([[1, -1, 2]])), "head"),
    Misuse("target-minus-one", lambda w, logits: F.cross_entropy(logits, tinytape.tensor([1, -1, 2, 3])),
           IndexError, "Target -1 is out of bounds.",
           lambda: TF.cross_entropy(t_leaf(4, 10), torch.tensor([1, -1, 2, 3])), "exact", setup=_logits),
    # layers
    Misuse("linear-in-features", lambda w, c: w.lin(tinytape.ones(2, 5)), RuntimeError,
           r"mat1 and mat2 shapes cannot be multiplied \(2x5 and 12x16\)", lambda: _torch_linear(2, 5), "exact"),
    Misuse("linear-0d-input", lambda w, c: w.lin(tinytape.tensor(1.0)), RuntimeError,
           "both arguments to matmul need to be at least 1D, but they are 0D and 2D",
           lambda: torch.nn.Linear(12, 16)(torch.tensor(1.0))),
    Misuse("embedding-float-indices", lambda w, c: w.emb(tinytape.tensor([0.0, 1.0])), RuntimeError,
           "Expected tensor for argument #1 'indices' to have an integer dtype; but got float32 instead",
           lambda: torch.nn.Embedding(10, 4)(torch.tensor([0.0, 1.0]))),
    Misuse("embedding-weight-rank", lambda w, c: F.embedding(tinytape.tensor([0, 1]), w.lin.bias), RuntimeError,
           r"embedding: weight must be 2-D \(num_embeddings, embedding_dim\), got \(16,\)",
           lambda: TF.embedding(torch.tensor([0, 1]), t_leaf(16))),
    Misuse("embedding-too-large", lambda w, c: w.emb(tinytape.tensor([3, 10])), IndexError,
           r"^index out of range in self: embedding indices must be in \[0, 9\], got 10",
           lambda: torch.nn.Embedding(10, 4)(torch.tensor([3, 10])), "head"),
    Misuse("batchnorm-features", lambda w, c: w.bn(tinytape.ones(4, 5)), RuntimeError,
           r"batch_norm: weight should have 5 elements \(one per feature\), got shape \(16,\)",
           lambda: torch.nn.BatchNorm1d(16)(torch.ones(4, 5))),
    Misuse("batchnorm-rank", lambda w, c: w.bn(tinytape.ones(16)), ValueError, r"expected 2D input \(got 1D input\)",
           lambda: torch.nn.BatchNorm1d(16)(torch.ones(16))),
    Misuse("batchnorm-3d", lambda w, c: w.bn(tinytape.ones(4, 16, 2)), ValueError, r"expected 2D input \(got 3D input\)",
           lambda: torch.nn.BatchNorm1d(16)(torch.ones(4, 16, 2)), torch_accepts=True),
    Misuse("batchnorm-batch-of-one", lambda w, c: w.model(w.X[:1]), ValueError,
           r"Expected more than 1 value per channel when training, got input size \(1, 16\)",
           _torch_batch_of_one),
    Misuse("batchnorm-int-input", lambda w, c: w.bn(tinytape.ones(4, 16, dtype=tinytape.int64)), NotImplementedError,
           "\"batch_norm\" not implemented for 'Long'",
           lambda: torch.nn.BatchNorm1d(16)(torch.ones(4, 16, dtype=torch.int64)), "exact"),
    Misuse("cross-entropy-target-range", lambda w, logits: F.cross_entropy(logits, tinytape.tensor([1, 10, 2, 3])),
           IndexError, "Target 10 is out of bounds.",
           lambda: TF.cross_entropy(t_leaf(4, 10), torch.tensor([1, 10, 2, 3])), "exact", setup=_logits),
    Misuse("cross-entropy-target-float", lambda w, logits: F.cross_entropy(logits, tinytape.tensor([1.0, 0, 2, 3])),
           RuntimeError, r"cross_entropy: expected target of integer dtype \(class indices\), but got float32 \(class "
                         r"probabilities are not supported\)",
           lambda: TF.cross_entropy(t_leaf(4, 10), torch.tensor([1.0, 0, 2, 3])), setup=_logits),
    Misuse("cross-entropy-target-bool", lambda w, logits: F.cross_entropy(logits[:2], tinytape.tensor([True, False])),
           RuntimeError, r"expected target of integer dtype \(class indices\), but got bool",
           lambda: TF.cross_entropy(t_leaf(2, 10), torch.tensor([True, False])), setup=_logits),
    Misuse("cross-entropy-batch-size", lambda w, logits: F.cross_entropy(logits, w.Y[:5]), ValueError,
           r"Expected input batch_size \(4\) to match target batch_size \(5\)\.",
           lambda: TF.cross_entropy(t_leaf(4, 10), torch.from_numpy(np.zeros(5, np.int64))), "exact", setup=_logits),
    Misuse("cross-entropy-target-rank", lambda w, logits: F.cross_entropy(logits, w.Y[:4, None]), RuntimeError,
           "0D or 1D target tensor expected, multi-target not supported",
           lambda: TF.cross_entropy(t_leaf(4, 10), torch.zeros(4, 1, dtype=torch.int64)), "exact", setup=_logits),
    Misuse("cross-entropy-int-logits", lambda w, c: F.cross_entropy(tinytape.ones(2, 3, dtype=tinytape.int64),
                                                                    tinytape.tensor([0, 1])),
           RuntimeError, "cross_entropy: expected logits of a floating dtype, got int64",
           lambda: TF.cross_entropy(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))),
]




def _torch_no_grad_backward():
    x = t_leaf(3)
    with torch.no_grad():
        y = (x * 2).sum()
    y.backward()


def test_the_cases_have_distinct_ids():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_misuse(case):
    w, twin = World(), World()
    ctx = case.setup(w) if case.setup else None
    twin_ctx = case.setup(twin) if case.setup else None
    arrays, entries, mode = w.arrays(), live(), tinytape.is_grad_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("error")                    # a misuse gets an exception, never a warning
        err = raise_in(lambda: case.call(w, ctx))
    assert type(err) is case.error, f"{type(err).__name__}: {err}"
    message = str(err)
    assert re.search(case.match, message), message

    if case.torch is not None:
        if case.torch_accepts:
            case.torch()                                  # a documented difference: torch allows it
        else:
            t_err = raise_in(case.torch)
            if case.torch_catches:
                assert isinstance(err, type(t_err)), \
                    f"torch raises {type(t_err).__name__}: `except {type(t_err).__name__}` does not catch ours"
            else:
                assert isinstance(t_err, case.error), \
                    f"torch raises {type(t_err).__name__}, which `except {case.error.__name__}` does not catch"
            theirs = str(t_err).replace("[torch.", "[tinytape.").replace("torch.return_types.", "tinytape.return_types.")
            if case.same == "exact":
                assert message == str(t_err).replace("torch.return_types.", "tinytape.return_types.")
            elif case.same == "hint":
                assert message.split(" Hint: ")[0] == theirs.split(" Hint: ")[0], (message, str(t_err))
            elif case.same == "described":
                assert message.split(" is at version")[0] == theirs.split(" is at version")[0], (message, str(t_err))
            elif case.same == "prefix":
                assert str(t_err).startswith(message), (message, str(t_err))
            elif case.same == "head":
                assert message.split(":")[0] == str(t_err).split(":")[0], (message, str(t_err))
    else:
        assert not case.same

    del err
    assert_unchanged(arrays, w.arrays(), case.id)
    after = live()
    assert len(after) == len(entries) and all(a is b and an is bn for (a, an), (b, bn) in zip(after, entries)), \
        "the live tape entries changed"
    assert tinytape.is_grad_enabled() == mode

    w.next_step()
    twin.next_step()
    assert_same_arrays(w.arrays(), twin.arrays())
    del ctx, twin_ctx


# ---------------------------------------------------------------------------------- outcome lines
OUTCOMES = {}


def outcome(name):
    """Mark a test as the check of one outcome line of docs/misuse.md."""
    def mark(fn):
        assert name not in OUTCOMES
        OUTCOMES[name] = fn
        return fn
    return mark


@contextlib.contextmanager
def strict():
    """RuntimeWarnings (and any other warning) are errors inside the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


def both(fn, *arrays, upstream_seed=0):
    """fn(lib, functional, *tensors) on tinytape and torch, every float array a leaf that requires
    grad, a random upstream gradient; tinytape under strict warnings. Returns ((out, grads), (out, grads))."""
    res = []
    for lib, fl in ((tinytape, F), (torch, TF)):
        xs = [lib.tensor(a.copy(), requires_grad=a.dtype.kind == "f") for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("error" if lib is tinytape else "ignore")
            out = fn(lib, fl, *xs)
            g = np.random.default_rng(upstream_seed).standard_normal(out.shape).astype(arrays[0].dtype)
            out.backward(g if lib is tinytape else torch.from_numpy(g))
        grads = [x.grad if lib is tinytape else (None if x.grad is None else x.grad.numpy())
                 for x in xs if x.requires_grad]
        res.append((out.data if lib is tinytape else out.detach().numpy(), grads))
    return res


def assert_both(fn, *arrays, tol=EXACT, grad_tol=None):
    (a, ga), (t, gt) = both(fn, *arrays)
    assert_close(a, t, tol, "forward")
    for k, (x, y) in enumerate(zip(ga, gt)):
        assert_close(x, y, grad_tol or tol, f"gradient {k}")
    return a, ga


FLOAT = [np.float32, np.float64]


MIXED_LISTS = {
    "float64 scalar": lambda T: [np.float64(1.0), 2.0], "float32 scalar": lambda T: [np.float32(1.0), 2.0],
    "float32 and float64": lambda T: [np.float32(1), np.float64(2)], "int and float": lambda T: [1, 2.0],
    "nested float64": lambda T: [[np.float64(1.0)], [2.0]], "int32 scalar": lambda T: [np.int32(1), 2],
    "0-d tensors": lambda T: [T.tensor(1.0), T.tensor(2.0)],
    "0-d float64 tensor": lambda T: [T.tensor(1.0, dtype=T.float64), 2.0],
}


@outcome("float64-element-in-list")
@pytest.mark.parametrize("name", MIXED_LISTS)
def test_dtype_of_mixed_lists_follows_torch(name):
    """torch promotes the elements' dtypes; a Python float counts as the default float32."""
    got, ref = tinytape.tensor(MIXED_LISTS[name](tinytape)), torch.tensor(MIXED_LISTS[name](torch))
    assert got.dtype == ref.numpy().dtype
    np.testing.assert_array_equal(got.data, ref.numpy())


@outcome("mixed-float-ops")
@pytest.mark.parametrize("other", ["tensor64", "zero-dim64", "numpy64-scalar", "python-float", "numpy64-array"])
def test_float32_with_float64_follows_torchs_promotion(other):
    """Two dimensioned tensors: float64, and the float32 input's gradient stays float32. A 0-d
    tensor, a scalar: the dimensioned float32 tensor wins. A numpy array operand counts as a tensor."""
    a = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    b = np.random.default_rng(1).standard_normal((2, 3))
    operands = {"tensor64": lambda lib: lib.tensor(b, requires_grad=True),
                "zero-dim64": lambda lib: lib.tensor(np.float64(0.75), requires_grad=True),
                "numpy64-scalar": lambda lib: np.float64(0.75),
                "python-float": lambda lib: 0.75,
                "numpy64-array": lambda lib: b if lib is tinytape else torch.from_numpy(b)}
    got = []
    for lib in (tinytape, torch):
        x, y = lib.tensor(a, requires_grad=True), operands[other](lib)
        with strict():
            out = x * y + x
            out.sum().backward()
        got.append((out, x, y))
    (o, x, y), (to, tx, ty) = got
    assert o.dtype == to.detach().numpy().dtype
    assert x.grad.dtype == np.float32 == tx.grad.numpy().dtype
    assert_close(o.data, to.detach().numpy(), EXACT, "value")
    assert_close(x.grad, tx.grad.numpy(), EXACT, "x.grad")
    if isinstance(y, tinytape.Tensor):
        assert_close(y.grad, ty.grad.numpy(), REDUCE, "y.grad")


@outcome("unused-leaf")
def test_a_leaf_unused_in_the_graph_keeps_grad_none():
    for lib in (tinytape, torch):
        x, unused = lib.ones(3, requires_grad=True), lib.ones(3, requires_grad=True)
        unused.grad = None
        (x * 2).sum().backward()
        assert unused.grad is None and x.grad is not None
    w = World()
    spare = leaf(4)
    w.held.backward()
    assert spare.grad is None


@outcome("data-write-untracked")
def test_writes_through_data_are_not_tracked_as_in_torch():
    """The gradient then uses the new value, in both engines (the lecture's `p.data += -lr * p.grad`
    stays silent)."""
    got = []
    for lib in (tinytape, torch):
        x, c = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.tensor([2.0, 2.0, 2.0])
        y = (x * c).sum()
        c.data[0] = 7.0
        with lib.no_grad():
            x.data += 1.0                                 # the lecture's update, through .data
        assert c._version == 0 and x._version == 0
        y.backward()
        got.append(np.asarray(x.grad))
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], [7.0, 2.0, 2.0])


@outcome("inplace-in-graph")
def test_in_place_ops_in_the_graph_are_recorded_as_in_torch():
    """y += 1, y[0] = v, y[1:] *= 2, relu_-like clamp_ on tensors in the graph: torch records them
    (history rewritten, CopySlices through views); tinytape too, with torch's grad_fn names, values
    and gradients."""
    got = []
    for lib in (tinytape, torch):
        x = lib.tensor([[1.0, -2.0, 3.0], [0.5, 0.25, -1.0]], requires_grad=True)
        v = lib.tensor([4.0], requires_grad=True)
        with strict() if lib is tinytape else contextlib.nullcontext():
            y = x * 2
            y += 1
            names = [y.grad_fn.name()]
            y[0, 0] = v[0]
            y[1:] *= 2
            y.clamp_(-3.0, 5.0)
            names.append(y.grad_fn.name())
            c = lib.zeros(3)
            c[1] = v[0]                                   # a constant written with a value in the graph
            out = (y * y).sum() + (c * c).sum()
            out.backward()
        got.append((names, y.detach().numpy().copy(), x.grad.numpy().copy(), v.grad.numpy().copy(),
                    repr(c.grad_fn).split(" object")[0]))
    (names, y, gx, gv, c), (t_names, t_y, t_gx, t_gv, t_c) = got
    assert names == t_names and c == t_c
    np.testing.assert_array_equal(y, t_y)
    np.testing.assert_array_equal(gx, t_gx)
    np.testing.assert_array_equal(gv, t_gv)


@outcome("unsaved-written")
def test_writing_a_tensor_no_rule_saved_is_fine_as_in_torch():
    got = []
    for lib in (tinytape, torch):
        x, c = lib.tensor([1.0, 2.0, 3.0], requires_grad=True), lib.tensor([2.0, 2.0, 2.0])
        y = (x + c).sum() + x.sum(0).sum() + x.reshape(3, 1)[1:].sum() + x.max(0).values
        c += 1                                            # add keeps nothing of c
        with lib.no_grad():
            x[0] = 5.0                                    # sum, view, index, max keep shapes, not data
        y.backward()
        got.append(np.asarray(x.grad))
    np.testing.assert_array_equal(got[0], got[1])


@outcome("conservative-operands")
def test_mul_and_matmul_keep_both_operands():
    """A documented difference: torch's mm keeps only what the inputs that require grad need
    (x @ W with x constant keeps x, not W), tinytape's rule keeps both, so writing W in place stales
    the entry where torch would go on. The result is an error, never a wrong gradient."""
    X = np.ones((2, 3), np.float32)
    W = t_leaf(3, 2)
    loss = (torch.from_numpy(X) @ W).sum()
    with torch.no_grad():
        W -= 0.1
    loss.backward()                                       # torch: fine, dW = X.T @ g needs no W
    w = leaf(3, 2)
    loss = (tinytape.tensor(X) @ w).sum()
    with tinytape.no_grad():
        w -= 0.1
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[tinytape.FloatTensor \[3, 2\]\] "
                                           r"is at version 1; expected version 0"):
        loss.backward()
    assert w.grad is None


@outcome("empty-reductions")
@pytest.mark.parametrize("dtype", FLOAT)
@pytest.mark.parametrize("op", ["sum0", "sum1", "mean0", "mean", "var1", "softmax", "log_softmax", "max1", "matmul"])
def test_empty_dims_give_torchs_results_without_warnings(op, dtype):
    fns = {"sum0": lambda T, Fn, x: x.sum(0), "sum1": lambda T, Fn, x: x.sum(1) * 2,
           "mean0": lambda T, Fn, x: x.mean(0), "mean": lambda T, Fn, x: x.mean(),
           "var1": lambda T, Fn, x: x.var(1), "softmax": lambda T, Fn, x: Fn.softmax(x, 1),
           "log_softmax": lambda T, Fn, x: Fn.log_softmax(x, 1), "max1": lambda T, Fn, x: x.max(1).values,
           "matmul": lambda T, Fn, x: x.T @ x}
    for shape in ((0, 3), (3, 0)) if op not in ("max1",) else ((0, 3),):
        assert_both(fns[op], np.zeros(shape, dtype), tol=REDUCE)


@outcome("batch-of-zero")
def test_a_batch_of_zero_through_the_model_is_torchs_nan_and_zero_gradients():
    w = World()
    model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Flatten(), torch.nn.Linear(12, 16),
                                torch.nn.BatchNorm1d(16), torch.nn.Tanh(), torch.nn.Linear(16, 10))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(np.asarray(w.emb.weight)))
        for k, layer in ((2, w.lin), (5, w.out)):
            model[k].weight.copy_(torch.from_numpy(np.asarray(layer.weight).T))
            model[k].bias.copy_(torch.from_numpy(np.asarray(layer.bias)))
        model[3].running_mean.copy_(torch.from_numpy(np.asarray(w.bn.running_mean)))
        model[3].running_var.copy_(torch.from_numpy(np.asarray(w.bn.running_var)))
    stats = np.array(w.bn.running_mean), np.array(w.bn.running_var)
    count = int(w.bn.num_batches_tracked)
    X, Y = w.X[:0], w.Y[:0]
    w.opt.zero_grad()
    with strict():
        loss = F.cross_entropy(w.model(X), Y)
        loss.backward()
    t_loss = TF.cross_entropy(model(torch.from_numpy(X)), torch.from_numpy(Y))
    t_loss.backward()
    assert np.isnan(loss.item()) and np.isnan(t_loss.item())
    for p in w.params:
        np.testing.assert_array_equal(p.grad.numpy(), np.zeros_like(np.asarray(p)))
    for p in model.parameters():
        assert not p.grad.any()
    np.testing.assert_array_equal(np.asarray(w.bn.running_mean), stats[0])
    np.testing.assert_array_equal(np.asarray(w.bn.running_var), stats[1])
    assert int(w.bn.num_batches_tracked) == count + 1                # torch counts the empty batch too
    np.testing.assert_array_equal(model[3].running_mean.numpy(), stats[0])
    w.opt.step()
    w.step(2)                                             # and training goes on
    assert np.isfinite(np.asarray(w.lin.weight)).all()


LOGITS = {
    "1e30": [[1e30, 0.0, -1e30, 2.0], [0.0, 1e30, 1e30, -1e30], [1.0, 2.0, 3.0, 4.0]],
    "3e38": [[3e38, -3e38, 0.0, 1.0], [-3e38, -3e38, -3e38, -3e38], [1.0, 2.0, 3.0, 4.0]],
    "-inf some": [[-np.inf, 0.0, 1.0, 2.0], [0.0, -np.inf, -np.inf, 2.0], [1.0, 2.0, 3.0, -np.inf]],
    "-inf at the target": [[0.0, -np.inf, 1.0, 2.0], [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
    "a whole row -inf": [[-np.inf, -np.inf, -np.inf, -np.inf], [0.0, 1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0]],
}


@outcome("extreme-logits")
@pytest.mark.parametrize("dtype", FLOAT)
@pytest.mark.parametrize("name", LOGITS)
@pytest.mark.parametrize("fn", ["cross_entropy", "cross_entropy_sum", "cross_entropy_none", "softmax",
                                "log_softmax"])
def test_extreme_logits_as_torch_without_warnings(fn, name, dtype):
    """Values and gradients as torch's: finite where torch's are, inf and nan where torch's are."""
    target = lambda lib: lib.tensor([0, 1, 2])                                  # noqa: E731
    fns = {"cross_entropy": lambda T, Fn, x: Fn.cross_entropy(x, target(T)),
           "cross_entropy_sum": lambda T, Fn, x: Fn.cross_entropy(x, target(T), reduction="sum"),
           "cross_entropy_none": lambda T, Fn, x: Fn.cross_entropy(x, target(T), reduction="none"),
           "softmax": lambda T, Fn, x: Fn.softmax(x, 1), "log_softmax": lambda T, Fn, x: Fn.log_softmax(x, 1)}
    assert_both(fns[fn], np.array(LOGITS[name], dtype), tol=COMPOSITE)


LIMITS = np.array([0.0, -0.0, 1e-30, -1e-30, 20.0, -20.0, 50.0, -50.0, 100.0, -100.0, 1e30, -1e30, np.inf, -np.inf])
POSITIVE = np.array([0.0, 1e-45, 1e-30, 1.0, 1e30, 3e38, np.inf, -1.0, -0.0])


@outcome("unary-limits")
@pytest.mark.parametrize("dtype", FLOAT)
@pytest.mark.parametrize("op", ["tanh", "exp", "sigmoid", "relu", "abs", "log", "sqrt", "pow-1", "pow0.5", "pow2"])
def test_unary_ops_at_their_limits_as_torch_without_warnings(op, dtype):
    fns = {"tanh": lambda T, Fn, x: x.tanh(), "exp": lambda T, Fn, x: x.exp(), "sigmoid": lambda T, Fn, x: x.sigmoid(),
           "relu": lambda T, Fn, x: x.relu(), "abs": lambda T, Fn, x: x.abs(), "log": lambda T, Fn, x: x.log(),
           "sqrt": lambda T, Fn, x: x.sqrt(), "pow-1": lambda T, Fn, x: x ** -1, "pow0.5": lambda T, Fn, x: x ** 0.5,
           "pow2": lambda T, Fn, x: x ** 2}
    data = POSITIVE if op in ("log", "sqrt", "pow-1", "pow0.5") else LIMITS
    if op.startswith("pow"):
        data = data[~((data == 0) & np.signbit(data))]    # -0.0: see the next test
    assert_both(fns[op], np.asarray(data, dtype), tol=ULP)


@outcome("pow-at-minus-zero")
def test_the_gradient_of_a_fractional_power_at_minus_zero_has_numpys_sign():
    """A documented difference: for x = -0.0, x ** 0.5 backpropagates 0.5 * (-0.0) ** -0.5 * g;
    numpy's IEEE power gives +inf there, torch's rsqrt -inf. Both are infinite; the sign differs."""
    g = np.array([1.0], np.float32)
    x, tx = tinytape.tensor([-0.0], requires_grad=True), torch.tensor([-0.0], requires_grad=True)
    with strict():
        (x ** 0.5).backward(g)
    (tx ** 0.5).backward(torch.from_numpy(g))
    assert x.grad[0] == np.inf and tx.grad[0] == -np.inf
    y = tinytape.tensor([-0.0], requires_grad=True)
    with strict():
        y.sqrt().backward(g)                              # sqrt's own rule: torch's sign
    assert y.grad[0] == -np.inf == tx.grad[0]


@outcome("nan-in-backward")
@pytest.mark.parametrize("dtype", FLOAT)
@pytest.mark.parametrize("chain", ["exp-log", "log-of-zero-then-exp", "tanh-of-inf-gradient", "div-by-zero"])
def test_inf_times_zero_inside_backward_is_torchs_nan_without_warnings(chain, dtype):
    fns = {"exp-log": lambda T, Fn, x: x.exp().log(),
           "log-of-zero-then-exp": lambda T, Fn, x: (x * 0.0).log().exp(),
           "tanh-of-inf-gradient": lambda T, Fn, x: (x.tanh() - 1.0).log(),
           "div-by-zero": lambda T, Fn, x: (x * 0.0) / (x * 0.0)}
    assert_both(fns[chain], np.array([100.0, 1000.0, -1000.0, 0.0, 20.0], dtype), tol=ULP)


@outcome("std-of-constant")
@pytest.mark.parametrize("dtype", FLOAT)
def test_std_of_constant_data_has_torchs_zero_gradient(dtype):
    a, ga = assert_both(lambda T, Fn, x: x.std(1), np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], dtype),
                        tol=ULP, grad_tol=COMPOSITE)
    assert (ga[0][0] == 0).all()


@outcome("forward-inf-arithmetic-warns")
def test_arithmetic_on_infinities_warns_as_numpy_does():
    """A documented difference: inf - inf and 0 * inf in a forward + - * give nan as torch, and numpy's
    RuntimeWarning (torch is silent). The fused ops and every backward are silent."""
    x = tinytape.tensor([np.inf, 1.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="invalid value encountered in subtract"):
        y = x - tinytape.tensor([np.inf, 0.0])
    np.testing.assert_array_equal(y.data, torch.tensor([np.inf, 1.0]) - torch.tensor([np.inf, 0.0]))
    with strict():
        y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


# ---------------------------------------------------------------------------------- the document
def doc_ids():
    ids = re.findall(r"^\| `([a-z0-9-]+)` \|", DOC.read_text(), flags=re.M)
    assert len(ids) == len(set(ids)), "an id appears twice in docs/misuse.md"
    return ids


def test_every_line_of_the_contract_has_its_test_and_every_test_its_line():
    ids = set(doc_ids())
    tested = {c.id for c in CASES} | set(OUTCOMES)
    assert ids - tested == set(), f"lines of docs/misuse.md without a test: {sorted(ids - tested)}"
    assert tested - ids == set(), f"tests without a line in docs/misuse.md: {sorted(tested - ids)}"


def test_the_contract_quotes_the_messages_the_tests_check():
    """Each error line's message column shows the start of the message tinytape gives."""
    text = DOC.read_text()
    for c in CASES:
        line = next(l for l in text.splitlines() if l.startswith(f"| `{c.id}` |"))
        assert c.error.__name__ in line, f"{c.id}: the line does not name {c.error.__name__}"
