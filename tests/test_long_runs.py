"""Long runs: memory stays flat over thousands of training steps of the nn model (resident memory
and traced allocations, with the cycle collector off: no reference cycles); a batch of 65,536
examples matches torch with peak memory bounded by a fixed number of activations; the same seed
gives bit-identical training in separate processes (other hash seeds). The deep-chain and fan-out
timings live with the tape's tests (test_tape.py).

TINYTAPE_HEAVY=1 runs the heavy variants (docs/testing.md): 50,000 steps of the lecture's
200-unit model all traced, the whole training set (182,625 rows) as one batch.
"""
import gc
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

import nn
import tinytape.functional as F
from test_nn_parity import NAMES, lecture_init, lecture_loss, to_numpy
from test_nn_parity import assert_close as assert_composite

HEAVY = os.environ.get("TINYTAPE_HEAVY", "") not in ("", "0")
REPO = Path(__file__).resolve().parents[1]


def rss():
    """Resident memory in bytes (Linux's /proc), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None


def training_data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 27, (n, 3))
    return X, (X[:, 0] * 7 + X[:, 2]) % 27


def test_memory_is_flat_over_5000_training_steps_with_the_collector_off():
    """A leak of one small array per step (a recorded graph kept alive, a gradient appended somewhere)
    would grow resident memory by megabytes over the run, and traced allocations by kilobytes over
    the traced stretch. With the collector off, a reference cycle per step would pile up instead of
    being freed, and the final collection would find it."""
    steps, traced, hidden = (50_000, 50_000, 200) if HEAVY else (5_000, 1_000, 64)
    X, Y = training_data()
    model = nn.MLP(n_hidden=hidden, generator=np.random.default_rng(0))
    gc.collect()
    gc.disable()
    try:
        nn.fit(model, X, Y, 300, generator=1)             # warm: numpy's caches, Python's free lists
        r0 = rss()
        hist = nn.fit(model, X, Y, steps, generator=2)
        assert np.isfinite(hist.loss).all() and hist.loss[-100:].mean() < hist.loss[:100].mean()
        del hist
        r1 = rss()
        tracemalloc.start()
        try:
            nn.fit(model, X, Y, 200, generator=3)         # the steady working set, traced
            m0, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            hist = nn.fit(model, X, Y, traced, generator=4)
            del hist
            m1, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        unreachable = gc.collect()
    finally:
        gc.enable()
    assert unreachable == 0, f"{unreachable} objects in reference cycles after {steps + traced} steps"
    assert m1 - m0 < 32 * 1024, f"traced memory grew by {m1 - m0} bytes over {traced} steps"
    assert peak - m0 < 2 * 2**20 + traced * 8, f"a step's transient memory reached {peak - m0} bytes"
    if r0 is not None:
        assert r1 - r0 < 4 * 2**20, f"resident memory grew by {(r1 - r0) / 2**20:.1f} MiB over {steps} steps"


@pytest.fixture()
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_a_batch_of_65536_matches_torch_with_bounded_peak_memory(one_torch_thread):
    """One step of the lecture's model on 65,536 examples: the loss and all seven gradients within
    PRECISION.md's composite class of torch's (batchnorm's statistics over that many rows are where
    float32 row-by-row sums drifted), and the peak of traced memory during forward and backward
    under 12 activations of the (batch, 200) hidden layer: memory linear in the batch."""
    B = 182_625 if HEAVY else 65_536
    parameters, _ = lecture_init(200, np.float32)
    model = nn.MLP.from_arrays(**to_numpy(parameters))
    rng = np.random.default_rng(0)
    X, Y = rng.integers(0, 27, (B, 3)), rng.integers(0, 27, B)
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        loss = F.cross_entropy(model(X), Y)
        model.zero_grad()
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    activation = B * 200 * 4
    assert peak - base < 12 * activation, f"peak {(peak - base) / 2**20:.0f} MiB = {(peak - base) / activation:.1f} activations"
    t_loss = lecture_loss(parameters, torch.from_numpy(X), torch.from_numpy(Y))
    t_loss.backward()
    assert_composite(loss.data, t_loss.detach().numpy(), "loss")
    for name, p in zip(NAMES, parameters):
        mine = getattr(model, name).grad
        assert mine.dtype == np.float32
        if name == "b1":                                  # a true gradient of zero: rounding noise
            bound = 1e-5 * np.abs(parameters[1].grad.numpy()).max()
            assert np.abs(mine).max() <= bound and p.grad.abs().max().item() <= bound
        else:
            assert_composite(mine, p.grad.numpy(), name)


SCRIPT = """
import sys, numpy as np, nn
rng = np.random.default_rng(0)
X = rng.integers(0, 27, (3000, 3)); Y = (X[:, 0] + X[:, 1]) % 27
model = nn.MLP(n_hidden=32, generator=np.random.default_rng(7))
nn.fit(model, X, Y, 300, generator=8)
nn.save_arrays(sys.argv[1], {**model.state_dict(), "loss": nn.fit(model, X, Y, 20, generator=9).loss})
"""


def test_the_same_seed_gives_bit_identical_runs_in_separate_processes(tmp_path):
    """Two interpreters with different hash seeds (set and dict orders would differ) train the
    same model from the same seeds: every parameter, buffer and loss is the same to the bit."""
    outs = []
    for hashseed in ("1", "2"):
        path = tmp_path / f"run{hashseed}.npz"
        env = {**os.environ, "PYTHONHASHSEED": hashseed}
        proc = subprocess.run([sys.executable, "-c", SCRIPT, str(path)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        outs.append(nn.load_arrays(path))
    a, b = outs
    assert a.keys() == b.keys() and len(a) == 11           # 7 parameters, 3 buffers, the losses
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
