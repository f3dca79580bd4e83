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
    r = bench.main(["--quick", "--variants", "tinytape,numpy,torch"])
    out = capsys.readouterr().out
    assert "RANDOM tokens" in r["data"] and r["machine"]["cores"] >= 1 and r["machine"]["numpy"]
    assert set(r["steps"]) == {32, 4096}
    for batch, row in r["steps"].items():
        assert {"tinytape", "numpy"} <= set(row)
        for variant, us in row.items():
            assert np.isfinite(us) and us > 0, (batch, variant)
            ratio = r["ratios"][batch][variant]
            assert ratio["numpy"] == us / row["numpy"]
            assert ratio["torch"] == (us / row["torch"] if "torch" in row else None)
            assert f"{us:.1f}" in out
    for shape, ops in r["ops"].items():
        assert all(v > 0 for v in ops.values()), shape
    for lib, c in r["chain"].items():
        assert c["forward"] > 0 and c["backward"] > 0
        assert c["grad"] == pytest.approx(1.0001 ** 1000, rel=1e-3), lib     # d(x * 1.0001^1000)/dx


def test_without_torch_the_table_has_no_torch_column(monkeypatch, capsys):
    monkeypatch.setattr(bench, "_optional", lambda name: None)
    r = bench.main(["--quick", "--variants", "tinytape,numpy,torch"])
    assert set(r["steps"][32]) == {"tinytape", "numpy"} and set(r["chain"]) == {"tinytape"}
    assert all(v["torch"] is None for row in r["ratios"].values() for v in row.values())
    assert "torch not installed" in capsys.readouterr().out


@needs_names
def test_torch_train_runs_the_lectures_loop_and_reports_its_wall_time(capsys):
    pytest.importorskip("torch")
    from demos import torch_train
    assert torch_train.main(["--steps", "20", "--quick", "--names", str(NAMES)]) == 0
    out = capsys.readouterr().out
    assert "20 steps of batch 32" in out and "wall time" in out and "ms/step" in out
    losses = [float(line.split()[1]) for line in out.splitlines() if line.split()[:1] in (["train"], ["val"], ["test"])]
    assert len(losses) == 3 and all(2.0 < v < 4.0 for v in losses)
