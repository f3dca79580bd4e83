"""tinytape.save / tinytape.load: the same objects saved and loaded by torch.save / torch.load are the
oracle (structure, container types, key order, dtypes, shapes, values, requires_grad, which loaded
tensors are one tensor and which share memory); every file that is not tinytape's (torch's, a pickle,
a plain .npy/.npz, a damaged one) is refused with a RuntimeError before anything is returned, and no
pickled code ever runs."""
import io
import json
import math
import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

import tinytape

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


def values(shape, dtype, seed=0):
    a = np.asarray(np.random.default_rng(seed).standard_normal(shape) * 50)
    return np.asarray((a > 0) if dtype == np.bool_ else a.astype(dtype))


def roundtrip(lib, obj):
    buf = io.BytesIO()
    lib.save(obj, buf)
    buf.seek(0)
    return lib.load(buf)


def same(got, want, path="obj"):
    """A tinytape object is what torch's is, container by container and tensor by tensor."""
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tinytape.Tensor), path
        assert got.dtype == want.numpy(force=True).dtype and tuple(got.shape) == tuple(want.shape), path
        assert got.requires_grad == want.requires_grad and got.is_leaf and got.grad is None, path
        np.testing.assert_array_equal(got.detach().numpy(), want.numpy(force=True), err_msg=path)
        return
    assert type(got) is type(want), f"{path}: {type(got).__name__} != {type(want).__name__}"
    if isinstance(want, dict):
        assert list(got) == list(want), path
        for k in want:
            same(got[k], want[k], f"{path}[{k!r}]")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            same(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), path
    else:
        assert got == want, path


def leaves(obj):
    if isinstance(obj, (tinytape.Tensor, torch.Tensor)):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in leaves(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in leaves(v)]
    return []


def sharing(obj):
    """Which leaves are one object and which share memory, as two boolean matrices."""
    ts = leaves(obj)
    if ts and isinstance(ts[0], torch.Tensor):
        shares = lambda a, b: np.shares_memory(a.numpy(force=True), b.numpy(force=True))   # noqa: E731
    else:
        shares = lambda a, b: np.shares_memory(np.asarray(a), np.asarray(b))               # noqa: E731
    return ([[a is b for b in ts] for a in ts], [[shares(a, b) for b in ts] for a in ts])


def both(build):
    """build(lib) on each library, saved and loaded by it: (tinytape's, torch's)."""
    got, want = roundtrip(tinytape, build(tinytape)), roundtrip(torch, build(torch))
    same(got, want)
    assert sharing(got) == sharing(want)
    return got, want


# ---------------------------------------------------------------------------------- round trips
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(), (0,), (2, 0, 3), (3,), (2, 3, 4)], ids=str)
def test_every_dtype_and_shape(dtype, shape):
    a = values(shape, dtype)
    both(lambda lib: lib.from_numpy(a.copy()))
    if np.dtype(dtype).kind == "f":
        both(lambda lib: lib.from_numpy(a.copy()).requires_grad_())


def test_a_nested_state_dict_of_a_module_and_an_optimizer():
    r = np.random.default_rng(1)
    W, b, m = (r.standard_normal(s).astype(np.float32) for s in [(4, 3), (3,), (4, 3)])

    def build(lib):
        model = OrderedDict([("layers.0.weight", lib.tensor(W)), ("layers.0.bias", lib.tensor(b)),
                             ("bn.num_batches_tracked", lib.tensor(7)), ("bn.running_var", lib.ones(3))])
        optim = {"state": {0: {"step": lib.tensor(3.0), "exp_avg": lib.tensor(m), "exp_avg_sq": lib.zeros(4, 3)}},
                 "param_groups": [{"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-08, "weight_decay": 0.01,
                                   "amsgrad": False, "maximize": False, "foreach": None, "params": [0, 1]}]}
        return {"model": model, "optimizer": optim, "step": 10_000, "losses": [2.5, float("nan"), float("inf")],
                "name": "makemore ∑", "big": 2 ** 70, "neg": -float("inf"), (1, "a"): None}
    got, _ = both(build)
    assert type(got["model"]) is OrderedDict and type(got["optimizer"]["state"]) is dict
    assert list(got["optimizer"]["state"]) == [0]


def test_shared_and_viewed_tensors_share_memory_after_loading_as_in_torch():
    W = values((3, 4), np.float32)

    def build(lib):
        w = lib.tensor(W, requires_grad=True)
        x = lib.arange(10)
        return {"w": w, "again": w, "data": w.detach(), "t": w.detach().t(), "row": w.detach()[1],
                "x": x[2:5], "y": x[6:9], "solo": lib.arange(4)}
    got, want = both(build)
    assert got["w"] is got["again"] and want["w"] is want["again"]
    with torch.no_grad(), tinytape.no_grad():             # a write through one is seen by the others
        got["w"][1, 0] = 100.0
        want["w"][1, 0] = 100.0
    np.testing.assert_array_equal(got["row"].numpy(), want["row"].numpy())
    np.testing.assert_array_equal(got["t"].numpy(), want["t"].numpy())


def test_views_with_negative_and_zero_strides():
    base = np.arange(12).reshape(3, 4)                  # (tinytape, as torch, refuses negative steps in
    x = tinytape.from_numpy(base)                          # an index; a numpy view can still have them)
    obj = [x, tinytape.from_numpy(base[:, ::-2]), x[1].expand(5, 4)]
    assert np.asarray(obj[2]).strides[0] == 0
    got = roundtrip(tinytape, obj)
    want = np.arange(12).reshape(3, 4)
    for g, w in zip(got, [want, want[:, ::-2], np.broadcast_to(want[1], (5, 4))]):
        np.testing.assert_array_equal(np.asarray(g), w)
    assert np.shares_memory(np.asarray(got[0]), np.asarray(got[1]))
    assert np.shares_memory(np.asarray(got[0]), np.asarray(got[2]))


def test_numpy_arrays_and_scalars():
    a = values((2, 3), np.float64)
    got = roundtrip(tinytape, {"a": a, "f": np.float32(1.5), "i": np.int64(3), "b": np.bool_(True)})
    assert type(got["a"]) is np.ndarray and got["a"].dtype == a.dtype
    np.testing.assert_array_equal(got["a"], a)
    assert got["f"] == 1.5 and type(got["i"]) is int and got["b"] is True


def test_loaded_tensors_take_part_in_a_graph():
    r = np.random.default_rng(2)
    W, x = r.standard_normal((3, 2)).astype(np.float32), r.standard_normal((4, 3)).astype(np.float32)
    got = roundtrip(tinytape, {"W": tinytape.tensor(W, requires_grad=True)})["W"]
    want = roundtrip(torch, {"W": torch.tensor(W, requires_grad=True)})["W"]
    (tinytape.tensor(x) @ got).tanh().sum().backward()
    (torch.tensor(x) @ want).tanh().sum().backward()
    np.testing.assert_allclose(got.grad.numpy(), want.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_grad_and_graph_are_not_saved():
    def build(lib):
        w = lib.tensor([1.0, 2.0], requires_grad=True)
        (w * w).sum().backward()
        return {"w": w, "y": w * 3}
    got, want = both(build)
    assert got["y"].grad_fn is None and got["w"].grad is None


@pytest.mark.parametrize("how", ["str", "Path", "file"])
def test_paths_and_files(tmp_path, how):
    obj = {"w": tinytape.tensor([[1.0, 2.0]], requires_grad=True)}
    target = tmp_path / "model.tt"
    if how == "file":
        with open(target, "wb") as f:
            tinytape.save(obj, f)
        with open(target, "rb") as f:
            got = tinytape.load(f)
    else:
        p = str(target) if how == "str" else target
        tinytape.save(obj, p)
        got = tinytape.load(p)
    np.testing.assert_array_equal(got["w"].detach().numpy(), [[1.0, 2.0]])
    assert got["w"].requires_grad and os.listdir(tmp_path) == ["model.tt"]
    with open(tmp_path / "plain", "wb"):
        pass
    assert os.stat(target).st_mode == os.stat(tmp_path / "plain").st_mode      # an ordinary file's permissions


def test_a_stream_that_cannot_seek():
    class Stream(io.RawIOBase):
        def __init__(self, data):
            self.inner = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            return self.inner.readinto(b)
    buf = io.BytesIO()
    tinytape.save([tinytape.tensor(3)], buf)
    assert roundtrip_value(tinytape.load(Stream(buf.getvalue()))) == [3]


def roundtrip_value(obj):
    return [t.item() for t in obj]


def test_the_same_object_gives_the_same_bytes():
    obj = {"a": tinytape.arange(5), "b": [1.5, None]}
    one, two = io.BytesIO(), io.BytesIO()
    tinytape.save(obj, one)
    tinytape.save(obj, two)
    assert one.getvalue() == two.getvalue()


def test_plain_numpy_reads_the_file_as_documented(tmp_path):
    W = values((3, 4), np.float32)
    tinytape.save(OrderedDict(weight=tinytape.tensor(W), bias=tinytape.zeros(4)), tmp_path / "m.tt")
    with np.load(tmp_path / "m.tt") as z:                # allow_pickle is False by default
        d = json.loads(z["tinytape.json"])
        assert d["format"] == "tinytape" and d["version"] == 1
        (name, ref), _ = d["object"]["OrderedDict"]
        rec = d["tensors"][ref["tensor"]]
        np.testing.assert_array_equal(z[str(rec["storage"])], W)


# ---------------------------------------------------------------------------------- what save refuses
@pytest.mark.parametrize("obj, error", [({"a": object()}, TypeError), ({"s": {1, 2}}, TypeError),
                                        (np.zeros(2, np.float16), TypeError), ({"t": np.array([None])}, TypeError)])
def test_what_cannot_be_saved(obj, error, tmp_path):
    target = tmp_path / "m.tt"
    tinytape.save({"old": tinytape.ones(2)}, target)
    before = target.read_bytes()
    with pytest.raises(error):
        tinytape.save(obj, target)
    assert target.read_bytes() == before and os.listdir(tmp_path) == ["m.tt"]


def test_a_container_that_contains_itself():
    a = []
    a.append(a)
    with pytest.raises(ValueError, match="contains itself"):
        tinytape.save(a, io.BytesIO())


# ---------------------------------------------------------------------------------- what load refuses
RAN = []


class Payload:
    """Unpickling this would run code: it must never happen."""

    def __reduce__(self):
        return (RAN.append, ("pickled code ran",))


def refused(data, match):
    RAN.clear()
    with pytest.raises(RuntimeError, match=match):
        tinytape.load(io.BytesIO(data))
    assert RAN == []


def good_file():
    buf = io.BytesIO()
    tinytape.save({"w": tinytape.tensor(values((4, 5), np.float32)), "n": [1, 2]}, buf)
    return buf.getvalue()


def rezip(data, change):
    """The archive with its members rewritten by change(name, bytes) -> bytes or None (dropped)."""
    src, out = zipfile.ZipFile(io.BytesIO(data)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for n in src.namelist():
            b = change(n, src.read(n))
            if b is not None:
                z.writestr(n, b)
    return out.getvalue()


def test_a_torch_file_is_refused_with_the_way_to_convert_it():
    state = OrderedDict(weight=torch.randn(3, 2), bias=torch.zeros(3))
    buf = io.BytesIO()
    torch.save(state, buf)
    with pytest.raises(RuntimeError, match="written by torch.save") as e:
        tinytape.load(io.BytesIO(buf.getvalue()))
    assert "{k: v.numpy() for k, v in torch_state.items()}" in str(e.value)
    legacy = io.BytesIO()
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    refused(legacy.getvalue(), "is a pickle")


def test_the_conversion_the_message_gives_works(tmp_path):
    torch_state = OrderedDict(weight=torch.randn(3, 2), bias=torch.zeros(3))
    np.savez(tmp_path / "weights.npz", **{k: v.numpy() for k, v in torch_state.items()})
    state = {k: tinytape.from_numpy(v) for k, v in np.load(tmp_path / "weights.npz").items()}
    assert list(state) == ["weight", "bias"]
    for k in state:
        np.testing.assert_array_equal(state[k].numpy(), torch_state[k].numpy())


def test_pickles_never_run():
    refused(pickle.dumps({"w": Payload()}), "is a pickle")
    buf = io.BytesIO()
    np.save(buf, np.array([Payload()], dtype=object), allow_pickle=True)
    refused(buf.getvalue(), "single .npy array")


def test_a_pickled_array_inside_a_tinytape_archive_is_never_unpickled():
    obj = io.BytesIO()
    np.lib.format.write_array(obj, np.array([Payload()], dtype=object), allow_pickle=True)

    def change(name, b):
        if name == "tinytape.json":
            d = json.loads(b)
            d["storages"][0] = {"dtype": "float32", "shape": [1]}
            return json.dumps(d).encode()
        return obj.getvalue() if name == "0.npy" else b
    refused(rezip(good_file(), change), "is damaged")


@pytest.mark.parametrize("data, match", [
    (b"", "is empty"), (b"hello world, not a model", "not a zip archive"), (b"\x93NUMPY\x01\x00", "single .npy"),
])
def test_foreign_bytes(data, match):
    refused(data, match)


def test_a_plain_npz_and_another_zip():
    buf = io.BytesIO()
    np.savez(buf, w=np.ones(3))
    refused(buf.getvalue(), "without tinytape's description")
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "hi")
    refused(other.getvalue(), "no tinytape.json")


def test_truncated_files():
    data = good_file()
    for cut in [10, 100, len(data) // 2, len(data) - 30, len(data) - 1]:
        refused(data[:cut], "is damaged|not a zip")


def test_flipped_bytes_in_the_data_fail_the_checksum():
    data = bytearray(good_file())
    at = data.index(b"\x93NUMPY") + 140                  # inside the first array's values
    data[at] ^= 0xFF
    refused(bytes(data), "is damaged")


def test_damaged_descriptions():
    def edit(fn):
        def change(name, b):
            if name != "tinytape.json":
                return b
            d = json.loads(b)
            fn(d)
            return json.dumps(d).encode()
        return rezip(good_file(), change)
    cases = [
        (lambda d: d.update(format="other"), "does not say format"),
        (lambda d: d.update(version=2), "format version 2"),
        (lambda d: d["storages"][0].update(shape=[5, 4]), "is damaged"),
        (lambda d: d["storages"][0].update(dtype="object"), "is damaged"),
        (lambda d: d["tensors"][0].update(offset=1), "is damaged"),
        (lambda d: d["tensors"][0].update(stride=[5, 2]), "is damaged"),
        (lambda d: d["tensors"][0].update(stride=[-5, 1]), "is damaged"),
        (lambda d: d["tensors"][0].update(storage=3), "is damaged"),
        (lambda d: d["tensors"][0].update(requires_grad="yes"), "is damaged"),
        (lambda d: d.update(object={"tensor": 7}), "is damaged"),
        (lambda d: d.update(object={"set": [1]}), "is damaged"),
        (lambda d: d.update(object={"dict": [[[1], 2]]}), "is damaged"),
        (lambda d: d.pop("tensors"), "is damaged"),
        (lambda d: d["storages"].append({"dtype": "float32", "shape": [1]}), "is damaged"),
    ]
    for fn, match in cases:
        refused(edit(fn), match)
    refused(rezip(good_file(), lambda n, b: b"{not json" if n == "tinytape.json" else b), "not valid JSON")
    refused(rezip(good_file(), lambda n, b: b"NaN" if n == "tinytape.json" else b), "not valid JSON")
    refused(rezip(good_file(), lambda n, b: None if n == "0.npy" else b), "is damaged")
    refused(rezip(good_file(), lambda n, b: b[:-4] if n == "0.npy" else b), "is damaged")


def test_a_missing_file_and_a_text_mode_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        tinytape.load(tmp_path / "nothing.tt")
    tinytape.save([1], tmp_path / "m.tt")
    with open(tmp_path / "m.tt") as f, pytest.raises(TypeError, match="binary mode"):
        tinytape.load(f)


def test_weights_only_and_map_location_are_accepted():
    buf = io.BytesIO()
    tinytape.save({"w": tinytape.ones(2)}, buf)
    for kw in [{"weights_only": False}, {"map_location": "cpu"}, {"map_location": tinytape.device("cpu")}]:
        buf.seek(0)
        assert tinytape.load(buf, **kw)["w"].tolist() == [1.0, 1.0]
    buf.seek(0)
    with pytest.raises(RuntimeError, match="cuda"):
        tinytape.load(buf, map_location="cuda")


# ---------------------------------------------------------------------------------- the documentation
DOC = Path(__file__).resolve().parent.parent / "docs" / "serialization.md"


def doc_blocks(lang):
    text = DOC.read_text()
    return [b.split("```", 1)[0] for b in text.split(f"```{lang}\n")[1:]]


def test_the_documented_example_is_what_save_writes():
    C = tinytape.randn(27, 10).requires_grad_()
    W = tinytape.randn(3, 4)
    buf = io.BytesIO()
    tinytape.save(OrderedDict([("C", C), ("W", W), ("W.T", W.T)]), buf)
    written = json.loads(zipfile.ZipFile(buf).read("tinytape.json"))
    assert written == json.loads(doc_blocks("json")[0])


def test_the_documented_plain_numpy_reader(tmp_path):
    namespace = {}
    exec(doc_blocks("python")[-1], namespace)             # numpy and json only
    W = tinytape.tensor(values((3, 4), np.float32), requires_grad=True)
    base = np.arange(10)
    x = tinytape.from_numpy(base)
    obj = {"model": OrderedDict(W=W, b=tinytape.zeros(4, dtype=tinytape.float64)),
           "views": [x[2:5], tinytape.from_numpy(base[::-2])],
           "t": (W.detach().T, float("inf"), None), 3: "three", "mask": tinytape.tensor([True, False])}
    tinytape.save(obj, tmp_path / "m.tt")
    got, want = namespace["read"](tmp_path / "m.tt"), tinytape.load(tmp_path / "m.tt")
    assert list(got) == list(want) and got[3] == "three" and got["t"][1:] == (math.inf, None)
    for g, w in zip(leaves_np(got), leaves(want)):
        assert type(g) is np.ndarray and g.dtype == w.dtype
        np.testing.assert_array_equal(g, w.detach().numpy())


def leaves_np(obj):
    if isinstance(obj, np.ndarray):
        return [obj]
    if isinstance(obj, dict):
        return [t for v in obj.values() for t in leaves_np(v)]
    if isinstance(obj, (list, tuple)):
        return [t for v in obj for t in leaves_np(v)]
    return []
