"""tinytape.nn.Module against torch.nn.Module: one model class written in torch.nn's style, built on
both from one state dict: registration, walks (names and order), state_dict keys/shapes/dtypes and
metadata, load_state_dict's strict rules and errors in torch's words, forward and every gradient,
train/eval, apply, to, zero_grad, requires_grad_, hooks, reprs; Parameter; the containers."""
import copy
from collections import OrderedDict

import numpy as np
import pytest
import torch

import tinytape
import tinytape.nn as tnn
from tnn_harness import DEEP, assert_close, run, same_error, same_repr, same_state, to_tinytape, twin


def make_model(T, nn):
    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.fc = nn.Linear(d, d)
            self.bn = nn.BatchNorm1d(d)
            self.act = nn.Tanh()

        def forward(self, x):
            return self.act(self.bn(self.fc(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.proj = nn.Linear(8, 6)
            self.blocks = nn.ModuleList([Block(6), Block(6)])
            self.heads = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 3, bias=False)})
            self.tail = nn.Sequential(nn.ReLU(), nn.Identity())
            self.alpha = nn.Parameter(T.ones(3) * 0.5)
            self.register_buffer("scale", T.tensor([1.0, 2.0, 3.0]))
            self.register_buffer("scratch", T.zeros(2), persistent=False)
            self.plain = T.zeros(1)                       # a plain tensor attribute: not registered

        def forward(self, idx):
            x = self.emb(idx).flatten(1)
            x = self.proj(x)
            for b in self.blocks:
                x = b(x)
            x = self.tail(x)
            return (self.heads["a"](x) * self.alpha + self.heads["b"](x)) * self.scale

    return Net()


IDX = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 0]])


def test_walks_names_and_order_are_torchs():
    tm, mm = twin(make_model)
    assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [tuple(p.shape) for p in mm.parameters()] == [tuple(p.shape) for p in tm.parameters()]
    assert [n for n, _ in mm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in mm.named_modules()] == [n for n, _ in tm.named_modules()]
    assert [n for n, _ in mm.named_children()] == [n for n, _ in tm.named_children()]
    assert [type(m).__name__ for m in mm.modules()] == [type(m).__name__ for m in tm.modules()]
    assert [type(m).__name__ for m in mm.children()] == [type(m).__name__ for m in tm.children()]
    assert [n for n, _ in mm.named_parameters(prefix="net", recurse=False)] == \
        [n for n, _ in tm.named_parameters(prefix="net", recurse=False)]
    assert len(list(mm.buffers(recurse=False))) == len(list(tm.buffers(recurse=False))) == 2
    assert all(isinstance(p, tnn.Parameter) and p.is_leaf and p.requires_grad for p in mm.parameters())
    assert "plain" not in dict(mm.named_buffers()) and isinstance(mm.plain, tinytape.Tensor)


def test_state_dict_keys_shapes_dtypes_values_and_metadata():
    tm, mm = twin(make_model)
    same_state(tm, mm)
    sd = mm.state_dict()
    assert isinstance(sd, OrderedDict) and "scratch" not in sd
    assert dict(sd._metadata) == dict(tm.state_dict()._metadata)
    assert not any(v.requires_grad for v in sd.values())
    sd["proj.bias"][0] = 42.0                             # detached, sharing memory, as torch
    assert mm.proj.bias[0].item() == 42.0
    kept = mm.state_dict(keep_vars=True)
    assert kept["proj.weight"] is mm.proj.weight
    assert list(mm.state_dict(prefix="m.")) == list(tm.state_dict(prefix="m."))


def test_forward_and_every_gradient_match_torch():
    tm, mm = twin(make_model)
    run(tm, mm, IDX, tol=DEEP)
    same_state(tm, mm, DEEP)                              # running statistics after one training step
    tm.eval(), mm.eval()
    tm.zero_grad(), mm.zero_grad()
    run(tm, mm, IDX, tol=DEEP)


def test_repr_is_torchs():
    tm, mm = twin(make_model)
    same_repr(tm, mm)
    assert repr(mm).startswith("Net(\n  (emb): Embedding(10, 4)\n")
    same_repr(tm.blocks, mm.blocks)                      # ModuleList's "(0-1): 2 x Block(" form


def test_load_state_dict_strict_errors_in_torchs_words():
    tm, mm = twin(make_model)
    t_sd, m_sd = tm.state_dict(), to_tinytape(tm.state_dict())
    for edit in (lambda sd, T: sd.pop("proj.weight"),
                 lambda sd, T: sd.__setitem__("extra.weight", T.zeros(2)),
                 lambda sd, T: sd.__setitem__("proj.bias", T.zeros(5)),
                 lambda sd, T: sd.__setitem__("blocks.0.fc.weight", T.zeros(6, 7)),
                 lambda sd, T: sd.__setitem__("blocks.9.fc.weight", T.zeros(6, 6)),
                 lambda sd, T: sd.__setitem__("alpha", np.zeros(3, np.float32)),
                 lambda sd, T: (sd.pop("heads.a.bias"), sd.__setitem__("nothing", T.zeros(1)))):
        ts, ms = OrderedDict(t_sd), OrderedDict(m_sd)
        edit(ts, torch), edit(ms, tinytape)
        text = same_error(lambda: tm.load_state_dict(ts), lambda: mm.load_state_dict(ms))
        assert text[1].startswith("Error(s) in loading state_dict for Net:\n\t")
    ts, ms = OrderedDict(t_sd), OrderedDict(m_sd)
    for sd, T in ((ts, torch), (ms, tinytape)):
        sd.pop("emb.weight")
        sd["junk"] = T.zeros(1)
    t_res, m_res = tm.load_state_dict(ts, strict=False), mm.load_state_dict(ms, strict=False)
    assert repr(m_res) == repr(t_res) and m_res.missing_keys == ["emb.weight"] and m_res.unexpected_keys == ["junk"]
    same_error(lambda: tm.load_state_dict([1]), lambda: mm.load_state_dict([1]))


def test_load_state_dict_copies_in_place_and_assign_replaces():
    tm, mm = twin(make_model)
    w = mm.proj.weight
    sd = to_tinytape(tm.state_dict())
    sd["proj.weight"] = tinytape.ones(6, 8, dtype=tinytape.float64)        # cast to the param's dtype
    mm.load_state_dict(sd)
    assert mm.proj.weight is w and w.dtype == tinytape.float32 and (np.asarray(w) == 1).all()
    assert mm.proj.weight.requires_grad and mm.proj.weight.is_leaf
    sd["proj.weight"] = tinytape.full((6, 8), 2.0)
    mm.load_state_dict(sd, assign=True)
    assert mm.proj.weight is not w and isinstance(mm.proj.weight, tnn.Parameter)
    assert mm.proj.weight.requires_grad and (np.asarray(mm.proj.weight) == 2).all()


def test_train_eval_and_apply():
    tm, mm = twin(make_model)
    assert mm.training and all(m.training for m in mm.modules())
    assert mm.eval() is mm and not any(m.training for m in mm.modules())
    mm.blocks.train()
    assert [m.training for m in mm.modules()] == [m.training for m in tm.eval().blocks.train() and tm.modules()]
    same_error(lambda: tm.train("yes"), lambda: mm.train("yes"))
    t_seen, m_seen = [], []
    tm.apply(lambda m: t_seen.append(type(m).__name__))
    assert mm.apply(lambda m: m_seen.append(type(m).__name__)) is mm
    assert m_seen == t_seen


def test_zero_grad_and_requires_grad():
    tm, mm = twin(make_model)
    run(tm, mm, IDX, tol=DEEP)
    mm.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not np.asarray(p.grad).any() for p in mm.parameters())
    mm.zero_grad()
    assert all(p.grad is None for p in mm.parameters())
    assert mm.requires_grad_(False) is mm and not any(p.requires_grad for p in mm.parameters())
    out = mm(tinytape.tensor(IDX))
    assert not out.requires_grad
    mm.heads.requires_grad_()
    assert [p.requires_grad for p in mm.parameters()] == \
        [p.requires_grad for p in (tm.requires_grad_(False), tm.heads.requires_grad_())[0].parameters()]


def test_to_changes_floating_state_in_place():
    tm, mm = twin(make_model)
    run(tm, mm, IDX, tol=DEEP)
    params = list(mm.parameters())
    assert mm.to(tinytape.float64) is mm
    tm.to(torch.float64)
    assert [p is q for p, q in zip(mm.parameters(), params)] == [True] * len(params)
    assert all(p.dtype == tinytape.float64 and p.grad.dtype == tinytape.float64 for p in mm.parameters())
    assert mm.blocks[0].bn.num_batches_tracked.dtype == tinytape.int64
    same_state(tm, mm)
    tm.zero_grad(), mm.zero_grad()
    run(tm, mm, IDX, tol=DEEP)
    assert mm.float() is mm and mm.proj.weight.dtype == tinytape.float32
    assert mm.to("cpu") is mm and mm.to(torch_dtype_of(tinytape.zeros(1, dtype=tinytape.float64))) is mm
    assert mm.proj.weight.dtype == tinytape.float64 and mm.double() is mm and mm.cpu() is mm
    same_error(lambda: tm.to(torch.int64), lambda: mm.to(tinytape.int64))
    with pytest.raises(RuntimeError, match="cuda"):
        mm.to("cuda")


def torch_dtype_of(t):
    return t                                              # to(tensor): that tensor's dtype


def test_registration_rules_and_errors():
    for T, nn in ((torch, torch.nn), (tinytape, tnn)):
        m = nn.Module()
        m.w = nn.Parameter(T.zeros(2))
        m.register_buffer("b", T.zeros(1))
        m.sub = nn.Linear(2, 2)
        m.w = None                                        # a parameter slot takes None
        assert "w" in m._parameters and m.w is None
        del m.sub
        assert not hasattr(m, "sub")
    cases = [
        lambda T, nn: nn.Module().register_buffer("a.b", T.zeros(1)),
        lambda T, nn: nn.Module().register_buffer("", T.zeros(1)),
        lambda T, nn: nn.Module().register_buffer("x", [1.0]),
        lambda T, nn: nn.Module().register_parameter("a.b", None),
        lambda T, nn: nn.Module().register_parameter("p", T.zeros(1)),
        lambda T, nn: nn.Module().register_parameter("p", nn.Parameter(T.zeros(1)) * 2),
        lambda T, nn: nn.Module().add_module("m", 3),
        lambda T, nn: nn.Module().add_module("a.b", nn.Tanh()),
        lambda T, nn: nn.Linear(2, 2).__setattr__("weight", T.zeros(2, 2)),
        lambda T, nn: nn.Sequential(nn.Tanh()).__setattr__("0", 3),
        lambda T, nn: nn.BatchNorm1d(2).__setattr__("running_mean", [0.0]),
        lambda T, nn: nn.Linear(2, 2).register_buffer("weight", T.zeros(1)),
        lambda T, nn: nn.Linear(2, 2).nothing,
        lambda T, nn: nn.Module()(T.zeros(1)),
    ]
    for case in cases:
        same_error(lambda: case(torch, torch.nn), lambda: case(tinytape, tnn))

    class Early(tnn.Module):
        def __init__(self):
            self.w = tnn.Parameter(tinytape.zeros(1))

    class TorchEarly(torch.nn.Module):
        def __init__(self):
            self.w = torch.nn.Parameter(torch.zeros(1))
    same_error(TorchEarly, Early)


def test_reassignment_moves_between_kinds():
    m = tnn.Module()
    m.register_buffer("x", tinytape.zeros(1))
    m.x = tnn.Parameter(tinytape.ones(1))                # a Parameter replaces the buffer
    assert "x" in m._parameters and "x" not in m._buffers
    m.x = None
    m.y = tnn.Buffer(tinytape.ones(2), persistent=False)
    assert "y" in m._buffers and "y" not in m.state_dict()
    assert list(m.get_submodule("").state_dict()) == []
    net = tnn.Sequential(tnn.Linear(2, 2), tnn.Sequential(tnn.BatchNorm1d(2)))
    assert net.get_submodule("1.0") is net[1][0]
    assert net.get_parameter("1.0.weight") is net[1][0].weight
    assert net.get_buffer("1.0.running_var") is net[1][0].running_var


def test_parameter_is_a_leaf_tensor_printed_as_torch():
    x = np.array([[0.5, -1.25], [2.0, 3.0]], np.float32)
    tp, mp = torch.nn.Parameter(torch.tensor(x)), tnn.Parameter(tinytape.tensor(x))
    assert repr(mp) == repr(tp).replace("torch.", "tinytape.") and str(mp) == repr(mp)
    assert repr(mp).startswith("Parameter containing:\ntensor([[")
    tq, mq = torch.nn.Parameter(torch.tensor(x), requires_grad=False), tnn.Parameter(tinytape.tensor(x), False)
    assert repr(mq) == repr(tq) and not mq.requires_grad
    assert repr(tnn.Parameter()) == repr(torch.nn.Parameter()).replace("torch.", "tinytape.")
    src = tinytape.tensor(x)
    p = tnn.Parameter(src)
    assert isinstance(p, tinytape.Tensor) and p.is_leaf and p.requires_grad and p.grad_fn is None
    src[0, 0] = 7.0                                       # the same memory, as torch's
    assert p[0, 0].item() == 7.0
    y = (p * 2).sum()
    assert type(p * 2) is tinytape.Tensor and y.grad_fn is not None
    y.backward()
    assert_close(torch.full((2, 2), 2.0), p.grad)
    q = copy.deepcopy(p)
    assert isinstance(q, tnn.Parameter) and q.requires_grad and q is not p
    q.data[0, 0] = -1.0
    assert p[0, 0].item() == 7.0
    import pickle
    r = pickle.loads(pickle.dumps(p))
    assert isinstance(r, tnn.Parameter) and np.array_equal(np.asarray(r.detach()), np.asarray(p.detach()))
    same_error(lambda: torch.nn.Parameter(torch.tensor([1, 2])), lambda: tnn.Parameter(tinytape.tensor([1, 2])))


def test_deepcopy_of_a_module_is_independent():
    _, mm = twin(make_model)
    c = copy.deepcopy(mm)
    with tinytape.no_grad():
        c.proj.weight.fill_(0.0)
    assert np.asarray(mm.proj.weight).any() and isinstance(c.proj.weight, tnn.Parameter)
    assert repr(c) == repr(mm)


def test_forward_hooks():
    _, mm = twin(make_model)
    seen = []
    h1 = mm.proj.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape))
    h2 = mm.proj.register_forward_hook(lambda m, args, out: out * 0)
    out = mm(tinytape.tensor(IDX))
    assert seen == [(5, 8)]
    h1.remove(), h2.remove()
    assert (np.asarray(mm(tinytape.tensor(IDX)).detach()) != np.asarray(out.detach())).any()


# ---------------------------------------------------------------------------------- containers
def test_sequential_indexing_and_editing_as_torch():
    def make(T, nn):
        return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    tm, mm = twin(make)
    run(tm, mm, np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32))
    assert len(mm) == 5 and type(mm[-1]) is tnn.Linear and mm[1] is list(mm)[1]
    for view in (lambda s: s[1:4], lambda s: s[::2], lambda s: s[-2:]):
        same_repr(view(tm), view(mm))
        assert isinstance(view(mm), tnn.Sequential)
    same_error(lambda: tm[5], lambda: mm[5])
    for edit in (lambda s, nn: s.append(nn.Sigmoid()), lambda s, nn: s.insert(1, nn.Identity()),
                 lambda s, nn: s.__delitem__(0), lambda s, nn: s.__delitem__(slice(0, 2)),
                 lambda s, nn: s.__setitem__(-1, nn.Flatten()), lambda s, nn: s.extend([nn.Tanh()]),
                 lambda s, nn: s.pop(1)):
        t2, m2 = copy.deepcopy(tm), copy.deepcopy(mm)
        edit(t2, torch.nn), edit(m2, tnn)
        same_repr(t2, m2)
        assert [n for n, _ in m2.named_parameters()] == [n for n, _ in t2.named_parameters()]
    same_repr(tm + tm, mm + mm)
    same_repr(torch.nn.Sequential(torch.nn.Tanh()) * 2, tnn.Sequential(tnn.Tanh()) * 2)
    same_repr(torch.nn.Sequential(OrderedDict(a=torch.nn.Tanh(), b=torch.nn.ReLU())),
              tnn.Sequential(OrderedDict(a=tnn.Tanh(), b=tnn.ReLU())))
    same_repr(torch.nn.Sequential(), tnn.Sequential())


def test_module_list_and_dict_as_torch():
    def make(T, nn):
        m = nn.Module()
        m.layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
        m.layers.append(nn.ReLU())
        m.layers.extend([nn.Linear(2, 3), nn.Linear(2, 3)])
        m.layers.insert(0, nn.Tanh())
        m.d = nn.ModuleDict([("x", nn.Linear(2, 2)), ("y", nn.Tanh())])
        m.d["z"] = nn.Identity()
        m.d.update({"w": nn.Sigmoid()})
        return m
    tm, mm = twin(make)
    same_repr(tm, mm)
    assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert len(mm.layers) == 7 and isinstance(mm.layers[1:3], tnn.ModuleList) and mm.layers[-1] is mm.layers[6]
    same_repr(tm.layers[1:3], mm.layers[1:3])
    same_repr(tm.layers + tm.layers, mm.layers + mm.layers)
    assert list(mm.d) == list(tm.d) == ["x", "y", "z", "w"] and "z" in mm.d and list(mm.d.keys()) == list(tm.d.keys())
    assert [type(v).__name__ for v in mm.d.values()] == [type(v).__name__ for v in tm.d.values()]
    assert type(mm.d.pop("y")) is tnn.Tanh and len(mm.d) == 3
    del tm.layers[2], mm.layers[2]
    same_repr(tm.layers, mm.layers)
    same_repr(torch.nn.ModuleList(), tnn.ModuleList())
    same_error(lambda: tm.layers[10], lambda: mm.layers[10])
    same_error(lambda: torch.nn.ModuleList(3), lambda: tnn.ModuleList(3))
    same_error(lambda: torch.nn.ModuleDict([("a",)]), lambda: tnn.ModuleDict([("a",)]))


def test_weight_tying_as_torch():
    """lm_head.weight = emb.weight: one parameter walked once, two state-dict keys, both uses'
    gradients added."""
    def make(T, nn):
        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(7, 4)
                self.head = nn.Linear(4, 7, bias=False)
                self.head.weight = self.emb.weight

            def forward(self, idx):
                return self.head(self.emb(idx).tanh())
        return LM()
    tm, mm = twin(make)
    assert mm.head.weight is mm.emb.weight
    assert [n for n, _ in mm.named_parameters()] == [n for n, _ in tm.named_parameters()] == ["emb.weight"]
    assert [n for n, _ in mm.named_parameters(remove_duplicate=False)] == \
        [n for n, _ in tm.named_parameters(remove_duplicate=False)]
    assert list(mm.state_dict()) == list(tm.state_dict()) == ["emb.weight", "head.weight"]
    run(tm, mm, np.array([[1, 2, 3], [3, 0, 6]]), tol=DEEP)


def test_custom_extra_repr_and_size_mismatch_without_strict():
    def make(T, nn):
        class Scale(nn.Module):
            def __init__(self):
                super().__init__()
                self.s = nn.Parameter(T.ones(2))
                self.inner = nn.Linear(2, 2)

            def extra_repr(self):
                return "factor=2,\nmode='x'"
        return nn.Sequential(Scale(), nn.Softmax(dim=-1))
    tm, mm = twin(make)
    same_repr(tm, mm)
    ts, ms = tm.state_dict(), mm.state_dict()
    ts["0.s"], ms["0.s"] = torch.zeros(3), tinytape.zeros(3)
    same_error(lambda: tm.load_state_dict(ts, strict=False), lambda: mm.load_state_dict(ms, strict=False))
