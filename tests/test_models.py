"""makemore's models (tests/lm_models.py: a Transformer with causal self-attention, an RNN and a GRU
cell unrolled over time, a bag-of-words block) and the GPT demo's model (demos/gpt.py), each one
source file built twice, on torch and on tinytape (the file loaded again with `tinytape` meaning
torch), tinytape's from torch's state dict: the same logits, loss and every parameter gradient,
then AdamW steps on identical batches with the same losses. Tolerances: docs/precision.md's
composite class (rtol 1e-4, atol 1e-5 x max|reference| + 1e-7)."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

import lm_models
import tinytape
from demos import gpt
from names_file import NAMES, needs_names

RTOL = 1e-4


def close(ref, got, rtol=RTOL, what=""):
    ref = ref.detach().numpy() if isinstance(ref, torch.Tensor) else np.asarray(ref)
    got = np.asarray(got)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, ref.shape, got.dtype, ref.dtype)
    atol = 1e-5 * float(np.max(np.abs(ref), initial=0.0)) + 1e-7
    np.testing.assert_allclose(got, ref, rtol=rtol, atol=atol, err_msg=what)


def to_tinytape(state):
    return OrderedDict((k, tinytape.tensor(v.detach().numpy())) for k, v in state.items())


def twins(tt_module, pt_module, build, seed=0):
    """build(module) on torch from `seed`, and on tinytape loaded with torch's state dict."""
    torch.manual_seed(seed)
    tm = build(pt_module)
    mm = build(tt_module)
    assert repr(mm.load_state_dict(to_tinytape(tm.state_dict()))) == "<All keys matched successfully>"
    return tm, mm


def batches(n, B, T, seed, vocab=27):
    """n batches of name-like sequences: X starts with 0, Y is X shifted left, then 0, then -1s."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        X = np.zeros((B, T), np.int64)
        Y = np.full((B, T), -1, np.int64)
        for i in range(B):
            k = int(rng.integers(1, T))                     # letters in this "name"
            letters = rng.integers(1, vocab, k)
            X[i, 1:k + 1] = letters[:T - 1]
            Y[i, :k] = letters
            Y[i, k] = 0 if k < T else -1
        out.append((X, Y))
    return out


def same_forward_backward(tm, mm, X, Y):
    t_logits, t_loss = tm(torch.from_numpy(X), torch.from_numpy(Y))
    m_logits, m_loss = mm(tinytape.from_numpy(X), tinytape.from_numpy(Y))
    close(t_logits, m_logits, what="logits")
    close(t_loss, m_loss, what="loss")
    t_loss.backward()
    m_loss.backward()
    tp, mp = dict(tm.named_parameters()), dict(mm.named_parameters())
    assert list(tp) == list(mp)
    for name, p in tp.items():
        assert p.grad is not None and mp[name].grad is not None, name
        close(p.grad, mp[name].grad, what=f"{name}.grad")


def adamw_losses(model, lib, data, lr=3e-3):
    opt = lib.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.01)
    losses = []
    for X, Y in data:
        _, loss = model(lib.from_numpy(X), lib.from_numpy(Y))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


@pytest.fixture(scope="module")
def lm_on_torch():
    return gpt.on_torch("lm_models")


@pytest.mark.parametrize("kind", ["transformer", "rnn", "gru", "bow"])
def test_makemore_model_logits_loss_gradients_and_adamw_steps(kind, lm_on_torch):
    config = lm_models.Config()
    tm, mm = twins(lm_models, lm_on_torch, lambda m: m.MODELS[kind](m.Config()))
    assert [n for n, _ in mm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    data = batches(21, 6, config.block_size, seed=len(kind))
    same_forward_backward(tm, mm, *data[0])
    for p in list(tm.parameters()) + list(mm.parameters()):
        p.grad = None
    np.testing.assert_allclose(adamw_losses(mm, tinytape, data[1:]), adamw_losses(tm, torch, data[1:]), rtol=RTOL)


def test_the_transformer_is_causal(lm_on_torch):
    """The logits at position t do not depend on the tokens after t (on both engines)."""
    for mod in (lm_models, lm_on_torch):
        mod.torch.manual_seed(0)
        model = mod.Transformer(mod.Config())
        X = batches(1, 2, 8, seed=0)[0][0]
        X2 = X.copy()
        X2[:, 5:] = (X2[:, 5:] + 1) % 27
        a, _ = model(mod.torch.from_numpy(X))
        b, _ = model(mod.torch.from_numpy(X2))
        a, b = a.detach().numpy(), b.detach().numpy()
        np.testing.assert_array_equal(a[:, :5], b[:, :5])
        assert not np.allclose(a[:, 5:], b[:, 5:])


# ---------------------------------------------------------------------------------- the demo's model
@pytest.fixture(scope="module")
def gpt_on_torch():
    return gpt.on_torch()


def test_on_torch_is_the_same_source_with_torch_imported(gpt_on_torch):
    assert gpt_on_torch.torch is torch and gpt_on_torch.nn is torch.nn and gpt_on_torch.F is torch.nn.functional
    assert gpt.torch is tinytape and gpt.nn is tinytape.nn and gpt.F is tinytape.functional
    assert gpt_on_torch.__file__ == gpt.__file__
    assert issubclass(gpt_on_torch.GPT, torch.nn.Module) and issubclass(gpt.GPT, tinytape.nn.Module)
    import sys
    assert sys.modules["tinytape"] is tinytape and sys.modules["tinytape.nn"] is tinytape.nn


@pytest.mark.parametrize("fused,dropout", [(True, 0.0), (False, 0.0), (True, 0.1), (False, 0.1)])
def test_gpt_demo_trains_as_torch_from_the_same_seed(fused, dropout, gpt_on_torch):
    """The demo's GPT (default size) built from the same seed on both engines: the same parameters
    (torch's init streams), the same first forward and gradients, then the demo's own train_step
    (batch drawn with torch.randint, dropout's masks from the global stream) side by side."""
    steps, batch = 4, 8
    models, losses = {}, {}
    X, Y = batches(1, 200, 16, seed=5)[0]
    for name, mod in (("torch", gpt_on_torch), ("tinytape", gpt)):
        mod.torch.manual_seed(1234)
        model = mod.GPT(mod.GPTConfig(fused_attention=fused, dropout=dropout))
        opt, sched = mod.make_optimizer(model, 1e-3, 0.01, steps)
        Xt, Yt = mod.torch.from_numpy(X), mod.torch.from_numpy(Y)
        out = []
        for _ in range(steps):
            out.append(mod.train_step(model, opt, Xt, Yt, batch).item())
            sched.step()
            if not out[1:]:
                models[name] = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
        losses[name] = np.array(out)
        models[name + " params"] = model
    t_params = dict(models["torch params"].named_parameters())
    assert list(t_params) == [n for n, _ in models["tinytape params"].named_parameters()]
    for n, g in models["torch"].items():
        close(g, models["tinytape"][n], what=f"{n}.grad after step 1")
    np.testing.assert_allclose(losses["tinytape"], losses["torch"], rtol=RTOL)
    # the same random draws were made along the way: the streams are still in step
    assert torch.randint(0, 1000, (4,)).tolist() == tinytape.randint(0, 1000, (4,)).tolist()


def test_gpt_demo_initial_parameters_are_torchs(gpt_on_torch):
    gpt_on_torch.torch.manual_seed(7)
    tm = gpt_on_torch.GPT(gpt_on_torch.GPTConfig(n_layer=1))
    gpt.torch.manual_seed(7)
    mm = gpt.GPT(gpt.GPTConfig(n_layer=1))
    ts, ms = tm.state_dict(), mm.state_dict()
    assert list(ts) == list(ms)
    for k in ts:
        np.testing.assert_array_equal(np.asarray(ms[k]), ts[k].numpy(), err_msg=k)


def test_gpt_demo_data_and_sampling():
    X, Y = gpt.encode_words(["ab", "zoe"], 5)
    assert X.tolist() == [[0, 1, 2, 0, 0], [0, 26, 15, 5, 0]]
    assert Y.tolist() == [[1, 2, 0, -1, -1], [26, 15, 5, 0, -1]]
    tinytape.manual_seed(0)
    model = gpt.GPT(gpt.GPTConfig(n_layer=1, block_size=5))
    names = gpt.sample_names(model, 6, generator=tinytape.Generator().manual_seed(1))
    assert len(names) == 6 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") and len(n) <= 4 for n in names)
    assert model.training


@needs_names
def test_gpt_demo_command_quick(capsys):
    assert gpt.main(["--steps", "3", "--quick", "--no-progress", "--names", str(NAMES)]) == 0
    out = capsys.readouterr().out
    assert "tinytape: GPT with 4 layers, 4 heads, n_embd 64, block size 16: 204,544 parameters" in out
    assert "3 steps of batch 32" in out and "20 names sampled" in out
    losses = [float(line.split()[2]) for line in out.splitlines() if line.split()[:2] in (["train", "loss"], ["val", "loss"])]
    assert len(losses) == 2 and all(2.5 < v < 3.5 for v in losses)
