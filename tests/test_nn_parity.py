"""nn.MLP against the lecture's own torch code, step for step.

The torch side is written once, below, as the lecture writes it (seeds 003 and 004: init from
`torch.Generator().manual_seed(2147483647)`, forward, `loss.backward()`, `p.data += -lr * p.grad`,
calibration, split_loss), with torch's autograd. tinytape's side is nn.MLP started from exactly
those parameter values and fed exactly the same minibatches.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as torch_F

import nn
import tinytape.functional as F
from names_file import SKIP_REASON, names_file

TOL = {np.float32: (1e-4, 1e-5, 1e-7), np.float64: (1e-10, 1e-12, 0.0)}   # PRECISION.md, composite
TORCH = {np.float32: torch.float32, np.float64: torch.float64}
NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")



@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """torch's worker threads spin while numpy works, on a 2-core machine that costs 10x: one
    thread for this module's many tiny torch ops, the setting restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    path = names_file()
    if path is None:
        pytest.skip(SKIP_REASON)
    return nn.load_dataset(path)


# ---------------------------------------------------------------------------------- the lecture, in torch
vocab_size, block_size, n_embd = 27, 3, 10


def lecture_init(n_hidden, dtype):
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5/3)/((n_embd * block_size)**0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.1
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
    b2 = torch.randn(vocab_size, generator=g) * 0.1
    bngain = torch.randn((1, n_hidden), generator=g)*0.1 + 1.0
    bnbias = torch.randn((1, n_hidden), generator=g)*0.1
    parameters = [p.to(TORCH[dtype]) for p in (C, W1, b1, W2, b2, bngain, bnbias)]
    for p in parameters:
        p.requires_grad = True
    return parameters, g


def lecture_loss(parameters, Xb, Yb):
    C, W1, b1, W2, b2, bngain, bnbias = parameters
    emb = C[Xb]
    embcat = emb.view(emb.shape[0], -1)
    hprebn = embcat @ W1 + b1
    bnmean = hprebn.mean(0, keepdim=True)
    bnvar = hprebn.var(0, keepdim=True, unbiased=True)
    bnvar_inv = (bnvar + 1e-5)**-0.5
    bnraw = (hprebn - bnmean) * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    return torch_F.cross_entropy(logits, Yb)


def lecture_train(parameters, Xtr, Ytr, batches):
    max_steps, losses = len(batches), []
    for i, ix in enumerate(batches):
        Xb, Yb = Xtr[ix], Ytr[ix]
        loss = lecture_loss(parameters, Xb, Yb)
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1 if i < max_steps // 2 else 0.01
        for p in parameters:
            p.data += -lr * p.grad
        losses.append(loss.item())
    return losses


@torch.no_grad()
def lecture_calibrate(parameters, Xtr):
    C, W1, b1 = parameters[:3]
    emb = C[Xtr]
    embcat = emb.view(emb.shape[0], -1)
    hpreact = embcat @ W1 + b1
    return hpreact.mean(0, keepdim=True), hpreact.var(0, keepdim=True, unbiased=True)


@torch.no_grad()
def lecture_split_loss(parameters, bnmean, bnvar, x, y):
    C, W1, b1, W2, b2, bngain, bnbias = parameters
    emb = C[x]
    embcat = emb.view(emb.shape[0], -1)
    hpreact = embcat @ W1 + b1
    hpreact = bngain * (hpreact - bnmean) * (bnvar + 1e-5)**-0.5 + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    return torch_F.cross_entropy(logits, y).item()


# ---------------------------------------------------------------------------------- comparisons
def to_numpy(parameters):
    return {k: p.detach().numpy().copy() for k, p in zip(NAMES, parameters)}


def assert_close(actual, expected, what):
    """PRECISION.md's composite tolerance: rtol plus an absolute floor scaled by max|reference|."""
    expected = np.asarray(expected)
    actual = np.asarray(actual).reshape(expected.shape)        # bngain: (h,) here, (1, h) in the lecture
    rtol, floor, const = TOL[expected.dtype.type]
    err = np.abs(actual.astype(np.float64) - expected)
    bad = err > floor * float(np.abs(expected).max()) + const + rtol * np.abs(expected)
    assert not bad.any(), f"{what}: {bad.sum()} of {bad.size} off, max diff {err.max():.3e}"


def assert_rel(actual, expected, rel, what):
    """max|a - b| <= rel * max|b|: relative to the tensor's scale (a parameter may cross zero)."""
    expected = np.asarray(expected)
    err = np.abs(np.asarray(actual, np.float64).reshape(expected.shape) - expected).max()
    assert err <= rel * np.abs(expected).max(), f"{what}: max diff {err:.3e}, scale {np.abs(expected).max():.3e}"


# ---------------------------------------------------------------------------------- one step
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_hidden, n_params", [(64, 4137), (200, 12297)])
def test_one_step_loss_and_all_gradients_match_torch(data, dtype, n_hidden, n_params):
    parameters, g = lecture_init(n_hidden, dtype)
    model = nn.MLP.from_arrays(**to_numpy(parameters))
    assert model.num_parameters() == sum(p.nelement() for p in parameters) == n_params
    Xtr, Ytr = torch.from_numpy(data.Xtr), torch.from_numpy(data.Ytr)
    for _ in range(3):                                       # three of the lecture's minibatches
        ix = torch.randint(0, Xtr.shape[0], (32,), generator=g)
        loss = lecture_loss(parameters, Xtr[ix], Ytr[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        ours = F.cross_entropy(model(data.Xtr[ix.numpy()]), data.Ytr[ix.numpy()])
        model.zero_grad()
        ours.backward()
        assert ours.dtype == dtype
        assert_close(ours.data, loss.detach().numpy(), "loss")
        for name, p in zip(NAMES, parameters):
            mine = getattr(model, name).grad
            assert mine.dtype == dtype
            if name == "b1":                                 # its true gradient is zero: rounding noise
                bound = (1e-5 if dtype == np.float32 else 1e-13) * np.abs(parameters[1].grad.numpy()).max()
                assert np.abs(mine).max() <= bound and p.grad.abs().max().item() <= bound
            else:
                assert_close(mine, p.grad.numpy(), name)


# ---------------------------------------------------------------------------------- 2,000 steps
STEPS = 2000


@pytest.fixture(scope="module")
def runs(data):
    """2,000 SGD steps on identical minibatches by both engines, per dtype, computed once."""
    out = {}
    rng = np.random.default_rng(1)
    batches = [rng.integers(0, len(data.Ytr), 32) for _ in range(STEPS)]
    Xtr, Ytr = torch.from_numpy(data.Xtr), torch.from_numpy(data.Ytr)
    for dtype in (np.float32, np.float64):
        parameters, _ = lecture_init(200, dtype)
        start = to_numpy(parameters)
        model = nn.MLP.from_arrays(**start)
        hist = nn.fit(model, data.Xtr, data.Ytr, STEPS, batches=batches)
        torch_losses = lecture_train(parameters, Xtr, Ytr, [torch.from_numpy(ix) for ix in batches])
        out[dtype] = dict(model=model, hist=hist, parameters=parameters, torch_losses=np.array(torch_losses),
                          start=start)
    return out


@pytest.mark.parametrize("dtype, rel", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_2000_steps_loss_curve_matches_torch(runs, dtype, rel):
    r = runs[dtype]
    ours, theirs = r["hist"].loss, r["torch_losses"]
    assert ours.shape == theirs.shape == (STEPS,)
    worst = np.max(np.abs(ours - theirs) / theirs)
    assert worst <= rel, f"loss curves differ by {worst:.2e} relative"
    assert theirs[-200:].mean() < theirs[:10].mean() - 0.8          # it did learn (3.3 -> ~2.4)
    np.testing.assert_allclose(r["hist"].lossi, np.log10(ours))


@pytest.mark.parametrize("dtype, rel", [(np.float32, 1e-4), (np.float64, 1e-12)])
def test_2000_steps_final_parameters_match_torch(runs, dtype, rel):
    r = runs[dtype]
    for name, p in zip(NAMES, r["parameters"]):
        mine, theirs = getattr(r["model"], name).data, p.detach().numpy()
        assert mine.dtype == dtype
        moved = np.abs(theirs - r["start"][name]).max()
        if name == "b1":                                     # zero gradient: it stays where it was
            assert moved < 1e-5 and np.abs(mine - r["start"][name].reshape(mine.shape)).max() < 1e-5
        else:
            assert moved > 1e-3, f"{name} did not move"
        assert_rel(mine, theirs, rel, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_calibration_and_split_losses_match_the_lecture(runs, data, dtype):
    r = runs[dtype]
    model, parameters = r["model"], r["parameters"]
    assert (model.bn.running_mean == 0).all().item()           # not tracked while training (momentum 0)
    nn.calibrate(model, data.Xtr)
    bnmean, bnvar = lecture_calibrate(parameters, torch.from_numpy(data.Xtr))
    assert_rel(model.bn.running_mean.data, bnmean.numpy(), 1e-4 if dtype == np.float32 else 1e-12, "bnmean")
    assert_rel(model.bn.running_var.data, bnvar.numpy(), 1e-4 if dtype == np.float32 else 1e-12, "bnvar")
    if dtype == np.float32:
        losses = nn.split_losses(model, data)
    else:                                                     # torch's float64 pass over the 182,625
        losses = {"val": nn.evaluate(model, data.Xdev, data.Ydev)}  # training rows alone takes seconds
    for split in losses:
        x, y = data[split]
        want = lecture_split_loss(parameters, bnmean, bnvar, torch.from_numpy(x), torch.from_numpy(y))
        assert abs(losses[split] - want) <= (1e-4 if dtype == np.float32 else 1e-12) * want, split
    assert 2.0 < losses["val"] < 3.0
    assert model.training                                     # evaluation restored the mode
