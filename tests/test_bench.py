"""The benchmark (demos.bench) in its quick mode: not a timing test, only that it runs and that its
numbers are sane (positive, the ratios computed from the measured values, the deep chain right)."""
import numpy as np
import pytest

from demos import bench
from names_file import NAMES, needs_names


@pytest.fixture(autouse=True)
def _random_tokens(monkeypatch):
    monkeypatch.delenv("TINYTAPE_NAMES", raising=False)


def test_quick_benchmark_produces_sane_numbers(capsys):
    r = bench.main(["--quick", "--variants", "tinytape,learner,numpy,torch"])
    out = capsys.readouterr().out
    assert "RANDOM tokens" in r["data"] and r["machine"]["cores"] >= 1 and r["machine"]["numpy"]
    assert set(r["steps"]) == {32, 4096}
    for batch, row in r["steps"].items():
        assert {"tinytape", "learner", "numpy"} <= set(row)
        for variant, us in row.items():
            assert np.isfinite(us) and us > 0, (batch, variant)
            ratio = r["ratios"][batch][variant]
            assert ratio["numpy"] == us / row["numpy"]
            assert ratio["torch"] == (us / row["torch"] if "torch" in row else None)
            assert f"{us:.1f}" in out
    assert "learner   the lecture's step as a learner writes it" in out
    for shape, ops in r["ops"].items():
        assert all(v > 0 for v in ops.values()), shape
        assert {"tinytape_fwd_bwd", "numpy_fwd_bwd"} <= set(ops) and (("torch_fwd_bwd" in ops) == ("torch" in r["steps"][32]))
    for lib, c in r["chain"].items():
        assert c["forward"] > 0 and c["backward"] > 0
        assert c["grad"] == pytest.approx(1.0001 ** 1000, rel=1e-3), lib     # d(x * 1.0001^1000)/dx
    gpt = r["gpt"]
    assert set(gpt["steps"]) == {"tinytape", "torch"} and "RANDOM tokens" in gpt["data"]
    assert all(np.isfinite(us) and us > 0 for us in gpt["steps"].values())
    assert gpt["ratios"] == {v: us / gpt["steps"]["torch"] for v, us in gpt["steps"].items()}
    assert "one training step of the GPT demo's Transformer" in out
    assert f"{gpt['steps']['tinytape'] / 1e3:.2f} ms/step" in out and f"{gpt['ratios']['tinytape']:.2f}x torch" in out


def test_gpt_only(capsys):
    pytest.importorskip("torch")
    r = bench.main(["--quick", "--gpt-only"])
    out = capsys.readouterr().out
    assert set(r) == {"machine", "gpt"} and set(r["gpt"]["steps"]) == {"tinytape", "torch"}
    assert r["gpt"]["ratios"]["torch"] == 1.0 and r["gpt"]["ratios"]["tinytape"] > 0
    assert out.startswith("machine: ") and "one training step of the GPT demo's Transformer" in out
    assert f"{r['gpt']['ratios']['tinytape']:.2f}x torch" in out


def test_without_torch_the_table_has_no_torch_column(monkeypatch, capsys):
    monkeypatch.setattr(bench, "_optional", lambda name: None)
    r = bench.main(["--quick", "--variants", "tinytape,learner,numpy,torch"])
    assert set(r["steps"][32]) == {"tinytape", "learner", "numpy"} and set(r["chain"]) == {"tinytape"}
    assert set(r["gpt"]["steps"]) == {"tinytape"} and r["gpt"]["ratios"] == {"tinytape": None}
    assert all(v["torch"] is None for row in r["ratios"].values() for v in row.values())
    assert "torch not installed" in capsys.readouterr().out


def _tokens(n=500, seed=3):
    rng = np.random.default_rng(seed)
    return rng.integers(0, bench.VOCAB, (n, bench.BLOCK)), rng.integers(0, bench.VOCAB, n)


def test_learner_and_torch_rows_run_one_function_and_train_as_torch_does(monkeypatch):
    """The `learner` row (tinytape) and the `torch` row call the very same lecture_step, only the module
    differs, and the steps they time are the lecture's: same losses as torch and the hand-written step."""
    torch = pytest.importorskip("torch")
    import tinytape
    from demos import torch_train
    seen, step = [], torch_train.lecture_step

    def spy(lib, F, *args):
        seen.append((lib, F))
        return step(lib, F, *args)
    monkeypatch.setattr(torch_train, "lecture_step", spy)
    X, Y = _tokens()
    losses = {v: bench.VARIANTS[v](X, Y, 32, bench.SEED)(6) for v in ("learner", "torch", "numpy", "tinytape")}
    import torch.nn.functional as tF
    assert seen == [(tinytape, bench.F)] * 6 + [(torch, tF)] * 6 and bench.F is tinytape.functional
    # same init, same minibatches: the losses agree to float32 rounding, step after step (so the
    # updates agree too: the hand-written step's loss at step i depends on its i earlier updates)
    np.testing.assert_allclose(losses["learner"], losses["torch"], rtol=1e-5)
    np.testing.assert_allclose(losses["learner"], losses["numpy"], rtol=1e-5)
    np.testing.assert_allclose(losses["tinytape"], losses["numpy"], rtol=1e-5)


def test_the_lectures_update_works_on_tensors_in_place_as_torchs():
    """`p.data += -lr * p.grad` with .data and .grad tensors, as torch's: the parameter's own memory
    is updated (no new array), unseen by autograd's version counter (.data has its own), and .grad
    only takes a tensor."""
    torch = pytest.importorskip("torch")
    import tinytape
    rng = np.random.default_rng(0)
    w, g = rng.standard_normal((4, 3)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
    lr = 0.1
    ref = torch.tensor(w, requires_grad=True)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
        ref.grad = g
    ref.grad = torch.tensor(g)
    v0 = ref._version
    ref.data += -lr * ref.grad                                   # the oracle
    expected = ref.detach().numpy()
    p = tinytape.tensor(w, requires_grad=True)
    with pytest.raises(TypeError, match="assigned grad expected to be a Tensor or None"):
        p.grad = g
    p.grad = tinytape.tensor(g)
    storage = p.detach().numpy()
    p.data += -lr * p.grad
    np.testing.assert_array_equal(p.detach().numpy(), expected)
    assert p.detach().numpy() is storage                         # in place: the same memory
    assert p._version == ref._version == v0 == 0                # .data's writes are not counted


def test_gpt_rows_run_the_demos_step_and_train_as_torch_does():
    """The GPT rows time demos.gpt's own train_step on tinytape and on torch from the same seed: the
    same losses, step after step, to float32 rounding (composite tolerance)."""
    torch = pytest.importorskip("torch")
    X, Y, desc = bench.gpt_data()
    assert X.shape == (bench.GPT_N_TRAIN, bench.GPT_BLOCK) and "RANDOM" in desc
    from demos import gpt
    tt = bench.make_gpt(gpt, X, Y, 32, bench.SEED)(3)
    pt = bench.make_gpt(gpt.on_torch(), X, Y, 32, bench.SEED)(3)
    np.testing.assert_allclose(tt, pt, rtol=1e-4)
    assert torch.is_grad_enabled()


@needs_names
def test_torch_train_runs_the_lectures_loop_and_reports_its_wall_time(capsys):
    pytest.importorskip("torch")
    from demos import torch_train
    assert torch_train.main(["--steps", "20", "--quick", "--names", str(NAMES)]) == 0
    out = capsys.readouterr().out
    assert "20 steps of batch 32" in out and "wall time" in out and "ms/step" in out
    losses = [float(line.split()[1]) for line in out.splitlines() if line.split()[:1] in (["train"], ["val"], ["test"])]
    assert len(losses) == 3 and all(2.0 < v < 4.0 for v in losses)
