"""nn's training loop, schedule, progress bar, evaluation, calibration, sampling, loss plot, and the
`python -m nn.train` command."""
import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn
import tinytape
import nn.train as cli
from tinytape import tape
from names_file import NAMES, SKIP_REASON, REPO, needs_names






@pytest.fixture(scope="module")
def data():
    if NAMES is None:
        pytest.skip(SKIP_REASON)
    return nn.load_dataset(NAMES)


def small_data(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 27, (n, 3))
    return X, X[:, 2].copy()                               # a rule to learn: repeat the last character


# ---------------------------------------------------------------------------------- training
def test_lecture_schedule():
    assert [nn.lecture_lr(i, 200_000) for i in (0, 99_999, 100_000, 199_999)] == [0.1, 0.1, 0.01, 0.01]
    assert [nn.lecture_lr(i, 5) for i in range(5)] == [0.1, 0.1, 0.01, 0.01, 0.01]


def test_train_is_deterministic_and_learns():
    X, Y = small_data()
    runs = []
    for _ in range(2):
        model = nn.MLP(n_hidden=32, generator=np.random.default_rng(0))
        hist = nn.fit(model, X, Y, 400, generator=np.random.default_rng(1))
        runs.append((model, hist))
    (m1, h1), (m2, h2) = runs
    np.testing.assert_array_equal(h1.loss, h2.loss)
    np.testing.assert_array_equal(m1.W1.data, m2.W1.data)
    assert h1.loss.shape == (400,) and np.isfinite(h1.loss).all()
    assert h1.loss[-50:].mean() < h1.loss[:10].mean() - 1.0
    np.testing.assert_allclose(h1.lossi, np.log10(h1.loss))
    assert m1.training and m1.W1.grad is not None
    m3 = nn.MLP(n_hidden=32, generator=np.random.default_rng(0))
    h3 = nn.fit(m3, X, Y, 400, generator=2)             # a seed works too; another seed, other batches
    assert not np.array_equal(h3.loss, h1.loss)


def test_train_uses_the_given_batches_and_the_learning_rate_schedule():
    """With the same batch every step the update is -lr * grad: measure lr from the parameters."""
    X, Y = small_data(n=64)
    model = nn.MLP(n_hidden=8, generator=np.random.default_rng(0), dtype=np.float64)
    ix = np.arange(32)
    probe = nn.MLP.from_arrays(**{k: getattr(model, k).data for k in nn.LECTURE_NAMES})
    nn.fit(model, X, Y, 2, batches=[ix, ix + 32])
    for lr, rows in ((0.1, ix), (0.01, ix + 32)):         # step 0 of 2 uses lr 0.1, step 1 uses 0.01
        probe.zero_grad()
        tinytape.functional.cross_entropy(probe(X[rows]), Y[rows]).backward()
        for p in probe.parameters():
            p.data -= lr * p.grad
    for k in nn.LECTURE_NAMES:
        np.testing.assert_allclose(getattr(model, k).data, getattr(probe, k).data, rtol=1e-12, atol=1e-15,
                                   err_msg=k)
    nn.fit(probe, X, Y, 2, batches=[ix, ix + 32], lr=0.5, lr_final=0.5)
    assert np.abs(probe.W2.data - model.W2.data).max() > 1e-3              # lr does matter


def test_train_rejects_bad_arguments_before_touching_the_model():
    X, Y = small_data(n=100)
    model = nn.MLP(n_hidden=8, generator=np.random.default_rng(0))
    w = model.W1.data.clone()
    for x, y, kwargs, match in [(X, Y, dict(steps=0), "steps must be at least 1"),
                                (X, Y, dict(steps=5, batch_size=1), "batch_size must be at least 2"),
                                (X, Y[:-1], dict(steps=5), "integer arrays"),
                                (X.astype(np.float32), Y, dict(steps=5), "integer arrays")]:
        with pytest.raises(ValueError, match=match):
            nn.fit(model, x, y, **kwargs)
    np.testing.assert_array_equal(model.W1.data, w)
    with pytest.raises(ValueError, match="batches ran out after 2 of 3 steps"):
        nn.fit(model, X, Y, 3, batches=[np.arange(4), np.arange(4)])


class Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture(params=["tqdm", "no tqdm"])
def tqdm_or_not(request, monkeypatch):
    """Each progress test twice: with tqdm (the demo extra) and as on a machine without it."""
    if request.param == "tqdm":
        pytest.importorskip("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    return request.param


def test_progress_bar_lines_on_a_log(tqdm_or_not):
    log = io.StringIO()
    bar = nn.ProgressBar(100, stream=log)
    assert bar.bar is None                                 # a log gets plain lines, with or without tqdm
    for i in range(1, 101):
        bar.update(i, loss=2.5)
    bar.close()
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[0].startswith(" 10/100 [###") and lines[-1].startswith("100/100 [" + "#" * 30)
    assert "loss 2.5000" in lines[-1] and "100%" in lines[-1]


def test_progress_bar_is_one_redrawn_line_on_a_terminal(tqdm_or_not):
    term = Terminal()
    bar = nn.ProgressBar(50, stream=term)
    assert (bar.bar is not None) is (tqdm_or_not == "tqdm")
    for i in range(1, 51):
        bar.update(i, loss=1.25)
    bar.close()
    out = term.getvalue()
    assert out.startswith("\r") and out.endswith("\n") and "\n" not in out[:-1]
    last = out.rstrip("\n").split("\r")[-1]
    if tqdm_or_not == "tqdm":                             # tqdm's own format, the loss as its postfix
        assert last.startswith("100%|") and " 50/50 [" in last and "loss 1.2500" in last
    else:
        assert last.startswith("50/50") and "loss 1.2500" in last


def test_progress_in_jupyter_is_tqdm_autos_widget(monkeypatch):
    """In a notebook tqdm.auto picks its widget class: the bar is then that class, on no stream."""
    tqdm_std = pytest.importorskip("tqdm.std")

    class Widget(tqdm_std.tqdm):
        made = []

        def __init__(self, *args, **kwargs):
            Widget.made.append(kwargs)
            super().__init__(*args, file=io.StringIO(), **kwargs)
    Widget.__module__ = "tqdm.notebook"
    monkeypatch.setattr(nn.training, "_tqdm", lambda: Widget)
    bar = nn.ProgressBar(10)
    assert isinstance(bar.bar, Widget) and "file" not in Widget.made[0]
    for i in range(1, 11):
        bar.update(i)
    bar.close()
    assert bar.bar.n == 10
    assert nn.ProgressBar(10, stream=io.StringIO()).bar is None     # a stream given: plain lines there


def test_train_shows_progress_on_stderr(capsys):
    X, Y = small_data(n=100)
    nn.fit(nn.MLP(n_hidden=8), X, Y, 20, generator=0, progress=True)
    err = capsys.readouterr().err
    assert "20/20 [" in err


# ---------------------------------------------------------------------------------- evaluation
def test_evaluate_is_grad_free_restores_the_mode_and_is_chunk_independent(monkeypatch):
    X, Y = small_data(n=3000)
    model = nn.MLP(n_hidden=16, generator=np.random.default_rng(0), dtype=np.float64)
    nn.fit(model, X, Y, 50, generator=0)
    nn.calibrate(model, X)
    recorded = len(tape.entries())
    loss = nn.evaluate(model, X, Y)
    assert model.training and tinytape.is_grad_enabled() and len(tape.entries()) == recorded
    with tinytape.no_grad():
        model.eval()
        whole = tinytape.functional.cross_entropy(model(X), Y).item()
        model.train()
    assert abs(loss - whole) <= 1e-12 * whole
    monkeypatch.setattr(nn.training, "CHUNK", 7)          # odd chunks, same answer
    assert abs(nn.evaluate(model, X, Y) - whole) <= 1e-12 * whole
    with pytest.raises(ValueError, match="same, non-zero number"):
        nn.evaluate(model, X, Y[:-1])


def test_calibrate_sets_the_training_set_statistics():
    X, _ = small_data(n=3000)
    model = nn.MLP(n_hidden=16, generator=np.random.default_rng(0), dtype=np.float64)
    nn.calibrate(model, X)
    C, W1, b1 = (p.detach().numpy() for p in (model.C, model.W1, model.b1))
    hpreact = C[X].reshape(len(X), -1) @ W1 + b1                   # the lecture's, in numpy
    np.testing.assert_allclose(model.bn.running_mean.data, hpreact.mean(0), rtol=1e-12)
    np.testing.assert_allclose(model.bn.running_var.data, hpreact.var(0, ddof=1), rtol=1e-12)
    assert model.training
    with pytest.raises(TypeError, match="needs an nn.Sequential"):
        nn.calibrate(nn.Linear(3, 3), X)
    with pytest.raises(ValueError, match="no BatchNorm1d"):
        nn.calibrate(nn.Sequential(nn.Embedding(27, 2), nn.Flatten()), X)


@needs_names
def test_split_losses_after_a_short_training(data):
    model = nn.MLP(n_hidden=64, generator=np.random.default_rng(0))
    nn.fit(model, data.Xtr, data.Ytr, 300, generator=np.random.default_rng(1))
    uncalibrated = nn.evaluate(model, data.Xdev, data.Ydev)     # running statistics still 0 and 1
    nn.calibrate(model, data.Xtr)
    losses = nn.split_losses(model, data)
    assert list(losses) == ["train", "val", "test"]
    assert losses["val"] < uncalibrated and 2.2 < losses["val"] < 2.9
    assert losses["val"] == nn.evaluate(model, data.Xdev, data.Ydev)
    assert losses["test"] == nn.evaluate(model, data.Xte, data.Yte)


# ---------------------------------------------------------------------------------- sampling
def test_sampling_is_seeded_and_yields_names():
    X, Y = small_data()
    model = nn.MLP(n_hidden=16, generator=np.random.default_rng(0))
    nn.fit(model, X, Y, 50, generator=0)
    nn.calibrate(model, X)
    a = nn.sample(model, 20, generator=np.random.default_rng(7))
    b = nn.sample(model, 20, generator=np.random.default_rng(7))
    c = nn.sample(model, 20, generator=np.random.default_rng(8))
    assert a == b and a != c and len(a) == 20
    assert all(set(name) <= set("abcdefghijklmnopqrstuvwxyz") for name in a)
    assert model.training and tinytape.is_grad_enabled()


def rigged(end_logit):
    """A model whose next character is '.' (end_logit=+50) or never '.' (-50), whatever the context."""
    model = nn.MLP(n_hidden=8, generator=np.random.default_rng(0))
    model.W2.data[...] = 0
    model.b2.data[...] = 0
    model.b2.data[0] = end_logit
    return model


def test_sampling_stops_at_the_end_token_or_at_max_len():
    assert nn.sample(rigged(+50.0), 3, generator=0) == ["", "", ""]
    names = nn.sample(rigged(-50.0), 2, generator=0, max_len=12)
    assert [len(n) for n in names] == [12, 12]
    with pytest.raises(ValueError, match="block_size"):
        nn.sample(nn.Sequential(nn.Flatten()), 1)


# ---------------------------------------------------------------------------------- the plot
def png_size(path):
    head = Path(path).read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_plot_losses_writes_a_png(tmp_path):
    lossi = np.log10(np.linspace(3.3, 2.1, 1200))
    path = nn.plot_losses(lossi, tmp_path / "loss.png")
    assert png_size(path) == (800, 450)


def test_plot_without_matplotlib_says_how_to_get_it(tmp_path, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'tinytape\[plot\]'"):
        nn.plot_losses([0.5, 0.4], tmp_path / "loss.png")
    assert not (tmp_path / "loss.png").exists()


# ---------------------------------------------------------------------------------- the command
@needs_names
def test_the_command_in_quick_mode_prints_and_saves(tmp_path):
    env = {**os.environ, "TINYTAPE_NAMES": str(NAMES)}
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "nn.train", "--quick", "--out", str(out)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    losses = {ln.split()[0]: float(ln.split()[1]) for ln in lines if ln.split()[:1] in (["train"], ["val"], ["test"])}
    assert set(losses) == {"train", "val", "test"} and all(2.0 < v < 3.0 for v in losses.values())
    i = lines.index("samples:")
    names = [ln.strip() for ln in lines[i + 1:i + 21]]
    assert len(names) == 20 and all(set(n) <= set("abcdefghijklmnopqrstuvwxyz") for n in names)
    model = nn.MLP.from_file(out / "mlp.npz")
    assert model.num_parameters() == 12297 and (model.bn.running_mean != 0).any().item()   # calibrated
    assert png_size(out / "loss.png") == (800, 450)
    assert sorted(os.listdir(out)) == ["loss.png", "mlp.npz"]
    assert "RuntimeWarning" not in proc.stderr


@needs_names
def test_the_command_with_options_and_without_matplotlib(tmp_path, capsys, data, monkeypatch):
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    out = tmp_path / "h16"
    code = cli.main(["--names", str(NAMES), "--steps", "60", "--hidden", "16", "--dtype", "float64",
                     "--batch-size", "8", "--seed", "3", "--out", str(out), "--quick"])
    assert code == 0
    model = nn.MLP.from_file(out / "mlp.npz")
    assert model.n_hidden == 16 and model.dtype == np.float64
    captured = capsys.readouterr()
    assert "60 steps of batch 8" in captured.out and "float64" in captured.out
    assert "no loss plot" in captured.err and "pip install" in captured.err
    assert sorted(os.listdir(out)) == ["mlp.npz"]        # the parameters are saved all the same
    rng = np.random.default_rng(3)                       # the same run through the library
    same = nn.MLP(n_hidden=16, generator=rng, dtype=np.float64)
    nn.fit(same, data.Xtr, data.Ytr, 60, batch_size=8, generator=rng)
    for k in nn.LECTURE_NAMES:
        np.testing.assert_array_equal(getattr(same, k).data, getattr(model, k).data, err_msg=k)


def test_the_command_says_how_to_provide_names(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TINYTAPE_PROG", raising=False)
    monkeypatch.delenv("TINYTAPE_OFFLINE", raising=False)
    out = str(tmp_path / "o")
    assert cli.main(["--names", str(tmp_path / "nope.txt"), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "nope.txt does not exist" in err and "export TINYTAPE_NAMES=PATH" in err
    assert f"\n  python -m nn.train --out {out} --names PATH\n" in err      # the command as typed, fixed
    assert not (tmp_path / "o").exists()
    monkeypatch.delenv("TINYTAPE_NAMES", raising=False)   # nothing anywhere: the download fails too
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(nn.data, "NAMES_URL", "http://127.0.0.1:9/names.txt")
    monkeypatch.setenv("TINYTAPE_PROG", "make demo")       # as `make demo ARGS=--quick` runs it
    assert cli.main(["--quick"]) == 2
    err = capsys.readouterr().err
    assert "could not be downloaded" in err and "export TINYTAPE_NAMES=PATH" in err
    assert '\n  make demo ARGS="--quick --names PATH"\n' in err and "python -m" not in err
    assert max(len(line) for line in err.splitlines() if str(tmp_path) not in line) <= 100
    assert list((tmp_path / "xdg" / "tinytape").iterdir()) == []


def test_quick_runs_go_to_out_quick_unless_out_is_given():
    assert cli.parse_args([]).out == Path("out") and cli.parse_args(["--quick"]).out == Path("out/quick")
    assert cli.parse_args(["--quick"]).checkpoint == Path("out/quick/checkpoint.npz")
    assert cli.parse_args(["--quick", "--out", "mine"]).out == Path("mine")


@needs_names
def test_a_run_says_which_earlier_results_it_replaces(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("TINYTAPE_PROG", raising=False)
    args = ["--names", str(NAMES), "--steps", "4", "--hidden", "8", "--out", str(tmp_path)]
    assert cli.main(args) == 0
    assert "note:" not in capsys.readouterr().out           # a fresh directory: nothing to say
    before = (tmp_path / "mlp.npz").read_bytes()
    (tmp_path / "checkpoint.npz").write_bytes(b"an interrupted run's")
    assert cli.main(args + ["--seed", "5"]) == 0
    out = capsys.readouterr().out
    assert f"note: this run replaces {tmp_path / 'mlp.npz'}" in out and "--out DIR keeps them" in out
    assert f"note: {tmp_path / 'checkpoint.npz'} is an interrupted run's checkpoint" in out
    assert f"python -m nn.train --resume {tmp_path / 'checkpoint.npz'}" in out
    assert out.index("note:") < out.index("MLP:")           # said before the run starts
    assert (tmp_path / "mlp.npz").read_bytes() != before


@needs_names
def test_the_command_refuses_an_output_path_that_is_a_file(tmp_path, capsys):
    taken = tmp_path / "file"
    taken.write_text("mine")
    assert cli.main(["--names", str(NAMES), "--quick", "--out", str(taken)]) == 2
    assert "cannot use --out" in capsys.readouterr().err and taken.read_text() == "mine"


@pytest.mark.parametrize("args, match", [(["--steps", "0"], "--steps must be at least 1"),
                                         (["--hidden", "-3"], "--hidden must be at least 1"),
                                         (["--batch-size", "1"], "--batch-size must be at least 2"),
                                         (["--dtype", "float16"], "invalid choice")])
def test_the_command_rejects_bad_flags(args, match, capsys):
    with pytest.raises(SystemExit) as e:
        cli.parse_args(args)
    assert e.value.code == 2 and match in capsys.readouterr().err


def test_quick_defaults():
    assert cli.parse_args(["--quick"]).steps == 1000
    assert cli.parse_args([]).steps == 200_000
    assert cli.parse_args(["--quick", "--steps", "5"]).steps == 5
