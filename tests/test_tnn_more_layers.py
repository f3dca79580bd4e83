"""tinytape.nn's LayerNorm, Dropout, GELU and SiLU (written on tinytape.functional's layer_norm,
dropout, gelu, silu) against torch's: built from one state dict, forward and every gradient,
Dropout's mask from torch's random stream, train/eval, reprs, refusals in torch's words."""
import numpy as np
import pytest
import torch

import tinytape
import tinytape.nn as tnn
from tnn_harness import DEEP, assert_close, run, same_error, same_repr, same_state, to_tinytape, twin

RNG = np.random.default_rng(0)


def randn(*shape, dtype=np.float32, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def _perturbed(tm, mm):
    """Weights other than LayerNorm's ones and zeros, the same on both."""
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.tensor(randn(*p.shape)))
    mm.load_state_dict(to_tinytape(tm.state_dict()))


@pytest.mark.parametrize("shape,normalized", [((4, 6), 6), ((2, 3, 6), (6,)), ((2, 3, 4, 5), (4, 5)),
                                              ((5, 8), [8])], ids=str)
@pytest.mark.parametrize("kwargs", [{}, dict(elementwise_affine=False), dict(bias=False), dict(eps=1e-2)], ids=str)
def test_layer_norm(shape, normalized, kwargs):
    tm, mm = twin(lambda T, nn: nn.LayerNorm(normalized, **kwargs))
    assert [(n, tuple(p.shape)) for n, p in mm.named_parameters()] == \
        [(n, tuple(p.shape)) for n, p in tm.named_parameters()]
    same_state(tm, mm)
    _perturbed(tm, mm)
    run(tm, mm, randn(*shape, scale=3.0) + 1.0, tol=DEEP)
    same_repr(tm, mm)
    assert mm.normalized_shape == tm.normalized_shape


def test_layer_norm_float64():
    tm, mm = twin(lambda T, nn: nn.LayerNorm(5, dtype=T.float64))
    _perturbed(tm, mm)
    run(tm, mm, randn(3, 5, dtype=np.float64), tol=dict(rtol=1e-10, atol=1e-12))


@pytest.mark.parametrize("p", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("shape", [(8, 5), (2, 3, 20)], ids=str)
def test_dropout_training_draws_torchs_mask(p, shape):
    tm, mm = twin(lambda T, nn: nn.Dropout(p))
    x = randn(*shape)
    torch.manual_seed(5)
    tinytape.manual_seed(5)
    run(tm, mm, x)
    assert_close(torch.rand(4), tinytape.rand(4), exact=True)        # the same draws were made
    same_repr(tm, mm)


def test_dropout_eval_is_the_identity_and_refusals():
    tm, mm = twin(lambda T, nn: nn.Dropout(0.3))
    tm.eval(), mm.eval()
    x = randn(4, 6)
    _, m_out = run(tm, mm, x)
    assert_close(torch.tensor(x), m_out, exact=True)
    same_error(lambda: torch.nn.Dropout(1.5), lambda: tnn.Dropout(1.5))
    same_error(lambda: torch.nn.Dropout(-0.1), lambda: tnn.Dropout(-0.1))
    same_repr(torch.nn.Dropout(0.2, inplace=True), tnn.Dropout(0.2, inplace=True))


def test_dropout_inside_a_model_follows_train_and_eval():
    def make(T, nn):
        return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.25), nn.LayerNorm(16), nn.Linear(16, 3))
    tm, mm = twin(make)
    x = randn(10, 6)
    torch.manual_seed(11)
    tinytape.manual_seed(11)
    run(tm, mm, x, tol=DEEP)
    tm.eval(), mm.eval()
    tm.zero_grad(), mm.zero_grad()
    run(tm, mm, x, tol=DEEP)
    same_repr(tm, mm)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu(approximate):
    tm, mm = twin(lambda T, nn: nn.GELU(approximate=approximate))
    x = randn(5, 7, scale=3.0)
    x[0, 0] = 0.0
    run(tm, mm, x)
    same_repr(tm, mm)
    assert repr(mm) == f"GELU(approximate='{approximate}')"


def test_silu():
    tm, mm = twin(lambda T, nn: nn.SiLU())
    run(tm, mm, randn(4, 9, scale=3.0))
    same_repr(tm, mm)
    tm, mm = twin(lambda T, nn: nn.Sequential(nn.Linear(3, 3), nn.SiLU(inplace=True)))
    run(tm, mm, randn(4, 3))
    same_repr(tm, mm)


def test_a_transformer_style_block():
    def make(T, nn):
        class Block(nn.Module):
            def __init__(self, d):
                super().__init__()
                self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
                self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d),
                                         nn.Dropout(0.0))
                self.gate = nn.Sequential(nn.Linear(d, d), nn.SiLU())

            def forward(self, x):
                x = x + self.gate(self.ln1(x))
                return x + self.mlp(self.ln2(x))
        return nn.Sequential(nn.Embedding(11, 8), Block(8), Block(8), nn.LayerNorm(8), nn.Linear(8, 11))
    tm, mm = twin(make)
    run(tm, mm, RNG.integers(0, 11, (3, 5)), tol=DEEP)
    same_repr(tm, mm)


@pytest.mark.parametrize("kwargs", [dict(ignore_index=2), dict(label_smoothing=0.1),
                                    dict(ignore_index=0, reduction="sum", label_smoothing=0.2)], ids=str)
def test_cross_entropy_loss_options(kwargs):
    """CrossEntropyLoss passes ignore_index and label_smoothing on to F.cross_entropy."""
    tm, mm = twin(lambda T, nn: nn.CrossEntropyLoss(**kwargs))
    logits, target = randn(6, 5, scale=2.0), np.array([0, 4, 2, 2, 1, 3])
    tx, mx = torch.tensor(logits, requires_grad=True), tinytape.tensor(logits, requires_grad=True)
    t_out, m_out = tm(tx, torch.tensor(target)), mm(mx, tinytape.tensor(target))
    assert_close(t_out, m_out)
    t_out.backward(), m_out.backward()
    assert_close(tx.grad, mx.grad)
    same_repr(tm, mm)


def test_cross_entropy_loss_on_sequences():
    """(N, C, T) logits with (N, T) targets, as a language model's loss is often written."""
    tm, mm = twin(lambda T, nn: nn.CrossEntropyLoss(ignore_index=-1))
    logits, target = randn(2, 7, 4), RNG.integers(-1, 7, (2, 4))
    tx, mx = torch.tensor(logits, requires_grad=True), tinytape.tensor(logits, requires_grad=True)
    t_out, m_out = tm(tx, torch.tensor(target)), mm(mx, tinytape.tensor(target))
    assert_close(t_out, m_out)
    t_out.backward(), m_out.backward()
    assert_close(tx.grad, mx.grad)
