"""nn.MLP: its shape, the lecture's init (from a numpy generator or from given arrays), and saving
and loading its parameters."""
import os

import numpy as np
import pytest
import torch

import nn
import tinytape

NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")


@pytest.mark.parametrize("n_hidden, count", [(200, 12297), (64, 4137)])
def test_parameter_count_and_shapes(n_hidden, count):
    model = nn.MLP(n_hidden=n_hidden)
    assert model.num_parameters() == count
    shapes = [tuple(getattr(model, k).shape) for k in NAMES]
    assert shapes == [(27, 10), (30, n_hidden), (n_hidden,), (n_hidden, 27), (27,), (n_hidden,), (n_hidden,)]
    assert [n for n, _ in model.named_parameters()] == [
        "emb.weight", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"]
    assert model.C is model.emb.weight and model.bngain is model.bn.weight and model.W2 is model.fc2.weight
    assert model.lecture_parameters() == [getattr(model, k) for k in NAMES]
    assert model.bn.unbiased and model.bn.momentum == 0.0     # the lecture's batchnorm
    assert model(np.zeros((5, 3), np.int64)).shape == (5, 27)
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_lecture_init_from_a_numpy_generator():
    """The lecture's formulas, drawn in its order: C, W1, b1, W2, b2, bngain, bnbias."""
    model = nn.MLP(n_hidden=64, generator=np.random.default_rng(123), dtype=np.float64)
    rng = np.random.default_rng(123)
    want = {
        "C": rng.standard_normal((27, 10)),
        "W1": rng.standard_normal((30, 64)) * (5 / 3) / 30**0.5,
        "b1": rng.standard_normal(64) * 0.1,
        "W2": rng.standard_normal((64, 27)) * 0.1,
        "b2": rng.standard_normal(27) * 0.1,
        "bngain": rng.standard_normal(64) * 0.1 + 1.0,
        "bnbias": rng.standard_normal(64) * 0.1,
    }
    for k in NAMES:
        np.testing.assert_array_equal(getattr(model, k).data, want[k], err_msg=k)
    f32 = nn.MLP(n_hidden=64, generator=np.random.default_rng(123))
    np.testing.assert_array_equal(f32.W1.data, want["W1"].astype(np.float32))
    other = nn.MLP(n_hidden=64, generator=np.random.default_rng(124), dtype=np.float64)
    assert not np.array_equal(other.C.data, model.C.data)
    seeded = nn.MLP(n_hidden=64, generator=tinytape.Generator().manual_seed(123), dtype=np.float64)
    again = nn.MLP(n_hidden=64, generator=tinytape.Generator().manual_seed(123), dtype=np.float64)
    np.testing.assert_array_equal(seeded.C.data, again.C.data)          # a tinytape.Generator works too


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lecture_init_from_a_tinytape_generator_is_torchs(dtype):
    """tinytape.Generator().manual_seed(2147483647) gives the lecture's torch parameters, bit for bit
    (float32 draws and arithmetic, then the cast, as test_nn_parity's torch lecture)."""
    want = torch_lecture_arrays(64)
    model = nn.MLP(n_hidden=64, generator=tinytape.Generator().manual_seed(2147483647), dtype=dtype)
    for k in NAMES:
        np.testing.assert_array_equal(np.asarray(getattr(model, k).data),
                                      want[k].astype(dtype).reshape(getattr(model, k).shape), err_msg=k)


def torch_lecture_arrays(n_hidden):
    g = torch.Generator().manual_seed(2147483647)
    C = torch.randn((27, 10), generator=g)
    W1 = torch.randn((30, n_hidden), generator=g) * (5/3)/(30**0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.1
    W2 = torch.randn((n_hidden, 27), generator=g) * 0.1
    b2 = torch.randn(27, generator=g) * 0.1
    bngain = torch.randn((1, n_hidden), generator=g)*0.1 + 1.0
    bnbias = torch.randn((1, n_hidden), generator=g)*0.1
    return {k: v.numpy() for k, v in zip(NAMES, (C, W1, b1, W2, b2, bngain, bnbias))}


def test_from_arrays_holds_exactly_torchs_values_as_copies():
    arrays = torch_lecture_arrays(64)
    model = nn.MLP.from_arrays(**arrays)
    assert (model.vocab_size, model.block_size, model.n_embd, model.n_hidden) == (27, 3, 10, 64)
    assert model.dtype == np.float32 and model.num_parameters() == 4137
    for k in NAMES:
        np.testing.assert_array_equal(getattr(model, k).data, arrays[k].reshape(getattr(model, k).shape))
    arrays["C"][0, 0] += 1                                # the model holds copies
    assert model.C.data[0, 0] != arrays["C"][0, 0]
    as64 = nn.MLP.from_arrays(**arrays, dtype=np.float64)
    assert all(p.dtype == np.float64 for p in as64.parameters())
    from_tensors = nn.MLP.from_arrays(**{k: getattr(model, k) for k in NAMES})
    np.testing.assert_array_equal(from_tensors.W2.data, model.W2.data)


def test_from_arrays_rejects_inconsistent_shapes():
    arrays = torch_lecture_arrays(64)
    with pytest.raises(ValueError, match=r"'fc2.weight' has shape \(60, 27\), the module's is \(64, 27\)"):
        nn.MLP.from_arrays(**{**arrays, "W2": np.zeros((60, 27), np.float32)})
    with pytest.raises(ValueError, match="not block_size \\* n_embd"):
        nn.MLP.from_arrays(**{**arrays, "W1": np.zeros((31, 64), np.float32)})
    with pytest.raises(ValueError, match="must be a float array"):
        nn.MLP.from_arrays(**{**arrays, "b2": np.zeros(27, np.int64)})
    with pytest.raises(TypeError):
        nn.MLP.from_arrays(**{k: v for k, v in arrays.items() if k != "bnbias"})


def test_set_lecture_params_is_all_or_nothing():
    model = nn.MLP(n_hidden=64, generator=np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    arrays = torch_lecture_arrays(64)
    arrays["bnbias"] = np.zeros((1, 63), np.float32)      # the last one is wrong
    with pytest.raises(ValueError, match="bn.bias"):
        model.set_lecture_params(arrays)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    with pytest.raises(ValueError, match="missing \\['bnbias'\\], unexpected \\['gamma'\\]"):
        model.set_lecture_params({**{k: v for k, v in arrays.items() if k != "bnbias"}, "gamma": 1})


@pytest.mark.parametrize("bad", [{"n_hidden": 0}, {"block_size": -1}, {"n_embd": 2.5}])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ValueError, match="must be a positive integer"):
        nn.MLP(**bad)


# ---------------------------------------------------------------------------------- save and load
def trained_looking(dtype=np.float32, n_hidden=64, seed=0):
    model = nn.MLP(n_hidden=n_hidden, generator=np.random.default_rng(seed), dtype=dtype)
    rng = np.random.default_rng(seed + 1)
    model.bn.running_mean.data[...] = rng.standard_normal(n_hidden)
    model.bn.running_var.data[...] = rng.random(n_hidden) + 0.5
    model.bn.num_batches_tracked.data[...] = 7
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_load_round_trip(tmp_path, dtype):
    model = trained_looking(dtype)
    path = tmp_path / "mlp.npz"
    assert model.save(path) == path
    assert sorted(os.listdir(tmp_path)) == ["mlp.npz"]     # no temporary file left behind
    back = nn.MLP.from_file(path)
    assert back.dtype == dtype and back.n_hidden == 64
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b, err_msg=k)
    x = np.random.default_rng(2).integers(0, 27, (9, 3))
    np.testing.assert_array_equal(model.eval()(x).data, back.eval()(x).data)
    other = nn.MLP(n_hidden=64, generator=np.random.default_rng(5), dtype=dtype)
    W1 = other.W1
    other.load(path)                                      # in place: the same tensors, new values
    assert other.W1 is W1
    np.testing.assert_array_equal(other.W1.data, model.W1.data)


def test_save_replaces_an_existing_file_atomically(tmp_path, monkeypatch):
    path = tmp_path / "mlp.npz"
    first = trained_looking(seed=0)
    first.save(path)
    second = trained_looking(seed=1)
    second.save(path)
    np.testing.assert_array_equal(nn.MLP.from_file(path).C.data, second.C.data)

    def crash(f, **arrays):                               # a write that dies halfway
        f.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")
    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        first.save(path)
    assert sorted(os.listdir(tmp_path)) == ["mlp.npz"]
    monkeypatch.undo()
    np.testing.assert_array_equal(nn.MLP.from_file(path).C.data, second.C.data)


def test_save_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        nn.MLP(n_hidden=8).save(tmp_path / "no" / "mlp.npz")


def test_loading_another_shape_names_the_problem_and_changes_nothing(tmp_path):
    path = tmp_path / "h64.npz"
    trained_looking(n_hidden=64).save(path)
    model = nn.MLP(n_hidden=200, generator=np.random.default_rng(0))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError) as e:
        model.load(path)
    msg = str(e.value)
    assert str(path) in msg and "'fc1.weight' has shape (30, 64), the module's is (30, 200)" in msg
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04" + b"\x00" * 50])
def test_corrupt_files_get_a_clear_error(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="is not a readable .npz parameter file"):
        nn.MLP.from_file(path)
    with pytest.raises(ValueError, match="is not a readable .npz parameter file"):
        nn.MLP(n_hidden=8).load(path)


def test_truncated_archive_and_other_files(tmp_path):
    good = tmp_path / "good.npz"
    trained_looking().save(good)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="not a readable"):
        nn.MLP.from_file(cut)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match="single array, not an .npz archive"):
        nn.MLP.from_file(single)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match=r"does not hold an nn.MLP's parameters.*\['weights'\]"):
        nn.MLP.from_file(foreign)
    with pytest.raises(FileNotFoundError, match="no parameter file at"):
        nn.MLP.from_file(tmp_path / "missing.npz")


def test_pickled_objects_are_never_loaded(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **{"emb.weight": np.array([object()], dtype=object)})
    with pytest.raises(ValueError, match="not a readable"):
        nn.MLP.from_file(path)
