"""Nothing lost: Ctrl-C saves a checkpoint at a step boundary, resuming ends bit-identical to the run
that was never interrupted (library and command), periodic checkpoints survive crashes, a crash
in the middle of a save leaves the previous file whole, and a checkpoint from another model, other
data, other settings or a damaged file is refused with a clear error before anything changes."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nn
import nn.train as cli

REPO = Path(__file__).resolve().parents[1]
STEPS = 240


def small_data(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 27, (n, 3))
    return X, (X[:, 0] + X[:, 2]) % 27


class Interrupting(nn.MLP):
    """The lecture's MLP that sends itself Ctrl-C (a real SIGINT) during its forward pass number `at`."""
    at = None

    def forward(self, x):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == self.at:
            signal.raise_signal(signal.SIGINT)
        return super().forward(x)


def model(cls=nn.MLP, hidden=16, dtype=np.float32, seed=0):
    return cls(n_hidden=hidden, generator=np.random.default_rng(seed), dtype=dtype)


def state(m):
    return {k: v.copy() for k, v in m.state_dict().items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def uninterrupted():
    X, Y = small_data()
    out = {}
    for dtype in (np.float32, np.float64):
        m = model(dtype=dtype)
        hist = nn.fit(m, X, Y, STEPS, generator=1)
        out[dtype] = (state(m), hist.loss)
    return out


# ---------------------------------------------------------------------------------- the library
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("at", [1, 37, 120, STEPS])
def test_ctrl_c_saves_and_resuming_ends_bit_identical(tmp_path, uninterrupted, at, dtype):
    X, Y = small_data()
    path = tmp_path / "run.ckpt.npz"
    m = model(Interrupting, dtype=dtype)
    m.at = at
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(nn.TrainingInterrupted) as e:
        nn.fit(m, X, Y, STEPS, generator=1, checkpoint=path)
    assert isinstance(e.value, KeyboardInterrupt) and e.value.step == at and e.value.path == path
    assert f"after step {at:,} of {STEPS:,}" in str(e.value)
    assert signal.getsignal(signal.SIGINT) is before               # Python's handler is back
    assert sorted(os.listdir(tmp_path)) == ["run.ckpt.npz"]        # no temporary file left
    ckpt = nn.load_checkpoint(path)
    assert ckpt.step == at and ckpt.steps == STEPS and ckpt.losses.shape == (at,)
    assert_same(ckpt.state, state(m))                              # the model as it stopped, whole

    fresh = model(dtype=dtype, seed=7)                              # other init, other generator: both restored
    hist = nn.fit(fresh, X, Y, STEPS, generator=np.random.default_rng(99), resume=path)
    want_state, want_loss = uninterrupted[dtype]
    np.testing.assert_array_equal(hist.loss, want_loss)
    assert_same(state(fresh), want_state)


def test_interrupted_twice_and_resumed_twice(tmp_path, uninterrupted):
    X, Y = small_data()
    path = tmp_path / "ckpt.npz"
    m = model(Interrupting)
    m.at = 50
    with pytest.raises(nn.TrainingInterrupted):
        nn.fit(m, X, Y, STEPS, generator=1, checkpoint=path)
    m2 = model(Interrupting, seed=3)
    m2.at = 100                                           # forward pass 100 after resuming: step 150
    with pytest.raises(nn.TrainingInterrupted) as e:
        nn.fit(m2, X, Y, STEPS, generator=1, checkpoint=path, resume=path)
    assert e.value.step == 150
    m3 = model(seed=4)
    hist = nn.fit(m3, X, Y, STEPS, generator=1, resume=path)
    np.testing.assert_array_equal(hist.loss, uninterrupted[np.float32][1])
    assert_same(state(m3), uninterrupted[np.float32][0])


def test_a_crash_leaves_the_last_periodic_checkpoint_to_resume_from(tmp_path, uninterrupted):
    X, Y = small_data()
    path = tmp_path / "ckpt.npz"

    class Crashing(nn.MLP):
        def forward(self, x):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 130:
                raise MemoryError("the machine ran out of memory")
            return super().forward(x)
    with pytest.raises(MemoryError):
        nn.fit(model(Crashing), X, Y, STEPS, generator=1, checkpoint=path, checkpoint_every=50)
    assert nn.load_checkpoint(path).step == 100
    m = model(seed=5)
    hist = nn.fit(m, X, Y, STEPS, generator=1, resume=path)
    np.testing.assert_array_equal(hist.loss, uninterrupted[np.float32][1])
    assert_same(state(m), uninterrupted[np.float32][0])


def test_a_crash_in_the_middle_of_saving_keeps_the_previous_checkpoint(tmp_path, uninterrupted, monkeypatch):
    X, Y = small_data()
    path = tmp_path / "ckpt.npz"
    saves = []
    real = np.savez

    def dies_on_the_third(f, **arrays):
        saves.append(1)
        if len(saves) == 3:                               # half an archive on disk, then the crash
            f.write(b"PK\x03\x04" + b"\x00" * 100)
            raise OSError("No space left on device")
        return real(f, **arrays)
    monkeypatch.setattr(np, "savez", dies_on_the_third)
    with pytest.raises(OSError, match="No space left"):
        nn.fit(model(), X, Y, STEPS, generator=1, checkpoint=path, checkpoint_every=40)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]    # the temporary file is gone
    assert nn.load_checkpoint(path).step == 80            # the second save, whole
    m = model(seed=2)
    hist = nn.fit(m, X, Y, STEPS, generator=1, resume=path)
    np.testing.assert_array_equal(hist.loss, uninterrupted[np.float32][1])
    assert_same(state(m), uninterrupted[np.float32][0])


@pytest.fixture()
def saved(tmp_path):
    X, Y = small_data()
    m = model(Interrupting)
    m.at = 30
    path = tmp_path / "ckpt.npz"
    with pytest.raises(nn.TrainingInterrupted):
        nn.fit(m, X, Y, STEPS, generator=1, checkpoint=path)
    return path


@pytest.mark.parametrize("change, match", [
    (dict(hidden=32), r"it was made for the model \{.*'n_hidden': 16.*\}, this one is \{.*'n_hidden': 32"),
    (dict(dtype=np.float64), r"'dtype': 'float32'\}, this one is .*'dtype': 'float64'"),
    (dict(steps=STEPS + 1), "steps was 240, now 241"),
    (dict(batch_size=16), "batch_size was 32, now 16"),
    (dict(lr=0.2), "lr was 0.1, now 0.2"),
    (dict(data=1), r"it was made on other training data"),
])
def test_resuming_another_run_is_refused_before_anything_changes(saved, change, match):
    X, Y = small_data(seed=change.get("data", 0))
    m = model(hidden=change.get("hidden", 16), dtype=change.get("dtype", np.float32), seed=9)
    before = state(m)
    rng = np.random.default_rng(1)
    rng_before = rng.bit_generator.state
    with pytest.raises(ValueError, match=match) as e:
        nn.fit(m, X, Y, change.get("steps", STEPS), batch_size=change.get("batch_size", 32), lr=change.get("lr", 0.1),
               generator=rng, resume=saved)
    assert str(saved) in str(e.value) and "cannot resume this run from the checkpoint" in str(e.value)
    assert_same(state(m), before)
    assert rng.bit_generator.state == rng_before


def test_a_checkpoint_whose_arrays_do_not_fit_the_model_names_them(saved):
    ckpt = nn.load_checkpoint(saved)
    ckpt.state["fc1.weight"] = ckpt.state["fc1.weight"][:, :8]     # a file edited or from elsewhere
    X, Y = small_data()
    m = model(seed=9)
    before = state(m)
    with pytest.raises(ValueError, match=r"'fc1.weight' has shape \(30, 8\), the module's is \(30, 16\)"):
        nn.fit(m, X, Y, STEPS, generator=1, resume=ckpt)
    assert_same(state(m), before)


@pytest.mark.parametrize("rng_state", [{"bit_generator": "MT19937", "state": {}},
                                       {"bit_generator": "PCG64", "state": {"state": "x", "inc": 1}}, "junk"],
                         ids=["another generator", "damaged", "not a dict"])
def test_a_generator_state_that_does_not_fit_is_refused_before_anything_changes(saved, rng_state):
    ckpt = nn.load_checkpoint(saved)
    ckpt.rng_state = rng_state
    X, Y = small_data()
    m, rng = model(seed=9), np.random.default_rng(1)
    before, rng_before = state(m), rng.bit_generator.state
    with pytest.raises(ValueError, match="its minibatch generator state does not fit a PCG64"):
        nn.fit(m, X, Y, STEPS, generator=rng, resume=ckpt)
    assert_same(state(m), before)
    assert rng.bit_generator.state == rng_before


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated", "parameters", "format", "meta"])
def test_damaged_or_foreign_files_get_a_clear_error(saved, tmp_path, damage):
    bad = tmp_path / "bad.npz"
    raw = saved.read_bytes()
    if damage == "empty":
        bad.write_bytes(b"")
    elif damage == "garbage":
        bad.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "truncated":
        bad.write_bytes(raw[: len(raw) // 2])
    elif damage == "parameters":
        model().save(bad)
    else:
        arrays = nn.load_arrays(saved)
        arrays["meta"] = np.array(str(arrays["meta"]).replace('"format": 1', '"format": 9') if damage == "format"
                                  else "{not json")
        nn.save_arrays(bad, arrays)
    match = {"empty": "is not a readable .npz", "garbage": "is not a readable .npz", "truncated": "is not a readable .npz",
             "parameters": r"is not a training checkpoint .* model.load\(\) or nn.MLP.from_file\(\)",
             "format": "is a checkpoint of format 9; this version of nn reads format 1",
             "meta": "the checkpoint's description is damaged"}[damage]
    with pytest.raises(ValueError, match=match) as e:
        nn.load_checkpoint(bad)
    assert str(bad) in str(e.value)
    m = model(seed=9)
    before = state(m)
    X, Y = small_data()
    with pytest.raises(ValueError, match=match):
        nn.fit(m, X, Y, STEPS, generator=1, resume=bad)
    assert_same(state(m), before)


def test_without_a_checkpoint_ctrl_c_is_python_s_as_before():
    X, Y = small_data()
    m = model(Interrupting)
    m.at = 5
    with pytest.raises(KeyboardInterrupt) as e:
        nn.fit(m, X, Y, STEPS, generator=1)
    assert not isinstance(e.value, nn.TrainingInterrupted)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------------------------- the command
def names_file(tmp_path):
    """600 made-up names (the command's test: fast to load, calibrate and evaluate)."""
    rng = np.random.default_rng(0)
    syll = ["ka", "ri", "mo", "an", "el", "sa", "to", "li", "na", "jo", "be", "ur"]
    names = {"".join(rng.choice(syll, rng.integers(1, 4))) for _ in range(2000)}
    path = tmp_path / "names.txt"
    path.write_text("\n".join(sorted(names)[:600]) + "\n")
    return path


def run(args, **kw):
    return subprocess.run([sys.executable, "-m", "nn.train", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONHASHSEED": "random"}, **kw)


ARGS = ["--steps", "4000", "--hidden", "16", "--seed", "5", "--checkpoint-every", "0"]


def results(stdout):
    """The split losses and the 20 sampled names the command prints."""
    lines = stdout.splitlines()
    return [ln for ln in lines if ln.split()[:1] in (["train"], ["val"], ["test"])] + \
        lines[lines.index("samples:"):lines.index("samples:") + 21]


def test_the_command_resumes_after_ctrl_c_to_the_same_result(tmp_path, capsys):
    names = names_file(tmp_path)
    whole = tmp_path / "whole"
    assert cli.main([*ARGS, "--names", str(names), "--out", str(whole), "--quick"]) == 0
    expected = results(capsys.readouterr().out)
    part = tmp_path / "part"
    proc = subprocess.Popen([sys.executable, "-m", "nn.train", *ARGS, "--names", str(names), "--out", str(part)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()                     # the first progress line: training is under way
        assert "/4000 [" in line, line + proc.stderr.read()
        proc.send_signal(signal.SIGINT)                   # Ctrl-C
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    ckpt = part / "checkpoint.npz"
    assert f"resume with: python -m nn.train --resume {ckpt}" in err
    step = nn.load_checkpoint(ckpt).step
    assert 0 < step < 4000 and not (part / "mlp.npz").exists()
    done = run(["--resume", str(ckpt)])                  # in a fresh process, with its own hash seed
    assert done.returncode == 0, done.stderr
    assert f"resuming after step {step:,}" in done.stdout
    assert results(done.stdout) == expected
    assert_same(nn.load_arrays(whole / "mlp.npz"), nn.load_arrays(part / "mlp.npz"))
    assert sorted(os.listdir(part)) == ["loss.png", "mlp.npz"]       # complete: no checkpoint left


def test_the_command_refuses_to_resume_other_settings_or_foreign_files(tmp_path, capsys, saved):
    names = names_file(tmp_path)
    out = tmp_path / "o"
    assert cli.main(["--resume", str(saved), "--names", str(names), "--out", str(out)]) == 2
    assert "was not written by python -m nn.train" in capsys.readouterr().err
    params = tmp_path / "p.npz"
    model().save(params)
    assert cli.main(["--resume", str(params)]) == 2
    assert "is not a training checkpoint" in capsys.readouterr().err
    assert cli.main(["--resume", str(tmp_path / "missing.npz")]) == 2
    assert "no parameter file at" in capsys.readouterr().err
