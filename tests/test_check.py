"""tinytape.check: the exercise checker, fed a correct exercise 1 and sets with planted mistakes.

The forward pass and the correct manual backward are the lecture's (demos/lecture.py,
demos/exercise1.py); each planted mistake is one a learner makes, and the tests assert the
verdict, the row statuses and where the pointer points.
"""
import numpy as np
import pytest

import tinytape
from tinytape import check
from demos import exercise1, lecture


@pytest.fixture(scope="module")
def lecture_graph():
    """(tensors after backward, forward values, the correct manual gradients)."""
    s = lecture.setup(use_torch=False)                 # numpy parameters, synthetic batch: no torch needed
    t = lecture.run(tinytape, s)
    v = lecture.values(t)
    return t, v, exercise1.manual_backward(v)


def planted(good, name, wrong):
    """The correct set with `wrong` for `name` and everything below it recomputed from it: what a
    learner's following lines give after one wrong line. Backpropagates `wrong` from `name` on a
    fresh copy of the graph; the tensors it reaches (name and below) take the result."""
    t = lecture.run(tinytape, lecture.setup(use_torch=False), backward=False)
    t[name].backward(wrong)
    below = {k: t[k].grad for k in lecture.NAMES if t[k].grad is not None}
    assert name in below and "logprobs" not in below
    return dict(good, **below)


def test_correct_set_passes_with_every_row_exact(lecture_graph):
    t, v, good = lecture_graph
    r = check.gradients(good, t, quiet=True)
    assert r.verdict == "pass" and r.ok
    assert r.first_wrong is None and r.missing == [] and r.unknown == []
    assert len(r.rows) == 26 and {row.name for row in r.rows} == set(lecture.NAMES)
    assert all(row.exact and row.approximate and row.maxdiff == 0.0 for row in r.rows)


def test_rows_are_in_backward_order(lecture_graph):
    """Every tensor's row comes after the rows of the tensors it is an input of (read from the
    nodes directly), starting from logprobs and ending at C."""
    t, _, good = lecture_graph
    order = [row.name for row in check.gradients(good, t, quiet=True).rows]
    pos = {n: i for i, n in enumerate(order)}
    names = {id(x.grad_fn or x): n for n, x in t.items() if n in pos}      # a result's node, or the leaf
    pairs = 0
    for n in order:
        node = t[n].grad_fn
        for f, _ in (node.next_functions if node else ()):
            u = getattr(f, "variable", f)                # torch's AccumulateGrad holds the leaf
            if u is not None and id(u) in names:
                assert pos[names[id(u)]] > pos[n], f"{names[id(u)]} listed before its consumer {n}"
                pairs += 1
    assert pairs >= 20
    assert order[0] == "logprobs" and order[-1] == "C"


def test_order_is_the_same_while_the_tape_still_holds_the_graph():
    t = lecture.run(tinytape, lecture.setup(use_torch=False), backward=False)
    t["loss"].backward(retain_graph=True)              # the tape keeps its entries: its own order
    assert any(e is t["probs"] for e in tinytape.tape.entries())
    v = lecture.values(t)
    kept = [row.name for row in check.gradients(exercise1.manual_backward(v), t, quiet=True).rows]
    t2 = lecture.run(tinytape, lecture.setup(use_torch=False))   # freed: rebuilt from the nodes
    freed = [row.name for row in check.gradients(exercise1.manual_backward(lecture.values(t2)), t2,
                                                 quiet=True).rows]
    assert kept == freed


def test_wrong_formula_points_at_it_and_names_its_right_input(lecture_graph):
    t, v, good = lecture_graph
    wrong = (1.0 - v["h"]) * good["h"]                 # tanh' written as 1 - h instead of 1 - h**2
    r = check.gradients(planted(good, "hpreact", wrong), t, quiet=True)
    assert r.verdict == "fail" and r.first_wrong == "hpreact"
    assert r.row("hpreact").status == "wrong" and not r.row("hpreact").approximate
    assert r.row("h").ok and r.row("logits").ok
    assert r.row("bnraw").status == "wrong"            # downstream of the mistake
    assert r.message.startswith("dhpreact is wrong; its input dh is right")
    assert "h = tanh(hpreact)" in r.message


def test_forgotten_second_use_points_at_counts_and_both_inputs(lecture_graph):
    """The issue's example: dcounts without `dcounts += ones_like(counts) * dcounts_sum`."""
    t, v, good = lecture_graph
    r = check.gradients(planted(good, "counts", v["counts_sum_inv"] * good["probs"]), t, quiet=True)
    assert r.verdict == "fail" and r.first_wrong == "counts"
    assert [row.name for row in r.rows if not row.ok][0] == "counts"
    assert r.row("logits").status == "wrong" and r.row("C").status == "wrong"
    assert r.message.startswith("dcounts is wrong; its inputs dprobs and dcounts_sum are right")
    assert "used twice" in r.message


def test_missing_broadcast_sum_is_a_shape_failure_with_the_sum_to_write(lecture_graph):
    t, v, good = lecture_graph
    m = dict(good, counts_sum_inv=v["counts"] * good["probs"])    # forgot .sum(1, keepdims=True)
    r = check.gradients(m, t, quiet=True)
    row = r.row("counts_sum_inv")
    assert row.status == "shape" and not row.exact and not row.approximate
    assert row.shape == (32, 27) and row.expected_shape == (32, 1)
    assert r.verdict == "fail" and r.first_wrong == "counts_sum_inv"
    assert "broadcast over dim 1" in r.message and ".sum(1, keepdims=True)" in r.message

    m = dict(good, b2=good["logits"])                              # db2 = dlogits, no .sum(0)
    r = check.gradients(m, t, quiet=True)
    assert r.first_wrong == "b2" and r.row("b2").status == "shape" and ".sum(0)" in r.message


def test_shape_64_for_1_64_fails_although_broadcasting_hides_it(lecture_graph):
    t, _, good = lecture_graph
    flat = (-good["bndiff"]).sum(0)                    # seed 003's dbnmeani: (64,), bnmeani is (1, 64)
    assert flat.shape == (64,) and (flat == t["bnmeani"].grad).all()   # the trap: == broadcasts
    r = check.gradients(dict(good, bnmeani=flat), t, quiet=True)
    row = r.row("bnmeani")
    assert row.status == "shape" and row.exact is False and row.approximate is False
    assert row.maxdiff == 0.0                          # the values are right ...
    assert r.verdict == "fail" and r.first_wrong == "bnmeani"
    assert "(64,)" in r.message and "(1, 64)" in r.message and "values are right" in r.message
    assert all(other.ok for other in r.rows if other.name != "bnmeani")


def test_missing_name_is_reported_and_the_verdict_is_incomplete(lecture_graph):
    t, _, good = lecture_graph
    m = {k: g for k, g in good.items() if k != "counts_sum"}
    r = check.gradients(m, t, quiet=True)
    assert r.verdict == "incomplete" and not r.ok and r.first_wrong is None
    assert r.missing == ["counts_sum"] and r.row("counts_sum").status == "missing"
    assert "dcounts_sum" in r.message
    assert sum(row.ok for row in r.rows) == 25


def test_unknown_name_suggests_the_close_one(lecture_graph):
    t, _, good = lecture_graph
    m = {k: g for k, g in good.items() if k != "logprobs"}
    m["dlogprob"] = good["logprobs"]
    r = check.gradients(m, t, quiet=True)
    assert r.verdict == "incomplete" and r.unknown == ["dlogprob"] and r.missing == ["logprobs"]
    assert "(did you mean 'dlogprobs'?)" in r.message          # in the spelling the learner used
    m.pop("dlogprob")
    m["logprobz"] = good["logprobs"]
    assert "no forward tensor named 'logprobz' (did you mean 'logprobs'?)" in check.gradients(m, t, quiet=True).message


def test_upstream_not_handed_in_is_said(lecture_graph):
    t, v, good = lecture_graph
    m = {k: g for k, g in good.items() if k != "probs"}
    m["counts"] = v["counts_sum_inv"] * good["probs"]
    r = check.gradients(m, t, quiet=True)
    assert r.first_wrong == "counts" and "dprobs was not handed in" in r.message
    assert "dcounts_sum is right" in r.message


def test_d_prefixed_names_tensors_and_aliases_are_accepted(lecture_graph):
    t, _, good = lecture_graph
    m = {"d" + k: tinytape.tensor(g) for k, g in good.items()}            # tinytape tensors, dX names
    names = dict(t, p=t["bnbias"], _=t["loss"], _7=t["logits"])         # a loop variable, IPython's _
    r = check.gradients(m, names, quiet=True)
    assert r.verdict == "pass" and len(r.rows) == 26 and "p" not in [row.name for row in r.rows]


def test_tolerance_separates_rounding_from_mistakes(lecture_graph):
    t, _, good = lecture_graph
    g = good["W1"]
    rounding = g + np.float32(2e-9) * np.sign(g)                       # a few float32 ulps
    r = check.gradients(dict(good, W1=rounding), t, quiet=True)
    assert r.verdict == "pass" and not r.row("W1").exact and r.row("W1").approximate
    r = check.gradients(dict(good, W1=g * 1.01), t, quiet=True)        # 1% off: a mistake
    assert r.verdict == "fail" and r.first_wrong == "W1" and "embcat" not in r.message.split(";")[0]
    r = check.gradients(dict(good, W1=rounding), t, rtol=0, atol=0, quiet=True)   # torch.allclose's test
    assert r.first_wrong == "W1"


def test_table_is_printed_in_the_lectures_format(lecture_graph, capsys):
    t, _, good = lecture_graph
    r = check.gradients(good, t)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "logprobs        | exact: True  | approximate: True  | maxdiff: 0.0"
    assert len(out) == 27 and out[-1] == r.message


def test_cmp_is_the_lectures_one_liner(lecture_graph, capsys):
    t, _, good = lecture_graph
    row = tinytape.cmp("logprobs", good["logprobs"], t["logprobs"])
    assert row.exact and row.approximate and row.maxdiff == 0.0
    assert capsys.readouterr().out == "logprobs        | exact: True  | approximate: True  | maxdiff: 0.0\n"
    off = tinytape.cmp("logits", good["logits"] + 1e-3, t["logits"])
    assert not off.exact and not off.approximate and off.maxdiff == pytest.approx(1e-3, rel=1e-3)
    flat = tinytape.cmp("bnmeani", good["bnmeani"].reshape(-1), t["bnmeani"])
    assert flat.status == "shape" and not flat.exact
    assert "expected (1, 64)" in capsys.readouterr().out.splitlines()[-1]
    leaf = tinytape.tensor([1.0, 2.0], requires_grad=True)
    assert tinytape.cmp("x", np.zeros(2), leaf).status == "nograd"


def test_against_compares_with_reference_arrays():
    manual = {"a": np.array([1.0, 2.0], np.float32), "b": np.ones((1, 3), np.float32)}
    ok = check.against(manual, {"a": manual["a"] + np.float32(1e-8), "b": np.ones((1, 3), np.float32)}, quiet=True)
    assert ok.verdict == "pass" and ok.row("a").approximate and ok.row("b").exact
    bad = check.against(manual, {"a": manual["a"], "b": np.ones(3, np.float32)}, quiet=True)
    assert bad.verdict == "fail" and bad.first_wrong == "b" and bad.row("b").status == "shape"
    assert check.against(manual, {"a": manual["a"]}, quiet=True).verdict == "incomplete"


def test_a_small_graph_with_a_leaf_used_twice():
    x = tinytape.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    w = tinytape.tensor([[0.5], [-1.0]], requires_grad=True)
    y = x * w                                          # (2, 3): x broadcast over dim 0, w over dim 1
    z = y + x                                          # x used twice
    loss = (z * z).sum()
    loss.backward()
    dz = 2 * z.data
    dy = dz.clone()
    good = {"z": dz, "y": dy, "w": (x.data * dy).sum(1, keepdims=True),
            "x": (w.data * dy).sum(0, keepdims=True) + dz.sum(0, keepdims=True)}
    names = {"x": x, "w": w, "y": y, "z": z, "loss": loss}
    assert check.gradients(good, names, quiet=True).verdict == "pass"
    r = check.gradients(dict(good, x=(w.data * dy).sum(0, keepdims=True)), names, quiet=True)
    assert r.first_wrong == "x"
    assert r.message.startswith("dx is wrong; its inputs dz and dy are right: look at how x is used twice")


# ---------------------------------------------------------------- input that cannot be checked
def test_an_empty_dict_is_not_a_pass(lecture_graph, capsys):
    t, _, _ = lecture_graph
    r = check.gradients({}, t)
    assert r.verdict == "incomplete" and not r.ok and r.rows == []
    assert "nothing to check: the dict of gradients is empty" in r.message and "all 0" not in r.message
    assert r.message in capsys.readouterr().out
    r = check.against({}, {"probs": np.zeros(3)}, quiet=True)
    assert r.verdict == "incomplete" and "empty" in r.message


def test_only_misspelled_names_check_nothing_and_say_so(lecture_graph):
    t, _, good = lecture_graph
    r = check.gradients({"dlogprob": good["logprobs"], "prob": good["probs"]}, t, quiet=True)
    assert r.verdict == "incomplete" and r.unknown == ["dlogprob", "prob"]
    assert r.message.startswith("nothing checked: ") and "are right" not in r.message
    assert "(did you mean 'dlogprobs'?)" in r.message and "(did you mean 'probs'?)" in r.message


@pytest.mark.parametrize("value, words", [(None, "dprobs is None, not an array"),
                                          ("0.5", "dprobs is a str of <U3, not an array of numbers"),
                                          ({"a": 1}, "dprobs is a dict of object, not an array of numbers")])
def test_a_value_that_is_not_an_array_of_numbers_is_named(lecture_graph, value, words):
    t, _, good = lecture_graph
    r = check.gradients({"probs": value}, t, quiet=True)
    assert r.verdict == "incomplete" and r.row("probs").status == "invalid" and words in r.message
    r = check.gradients(dict(good, probs=value), t, quiet=True)         # the others are still checked
    assert r.verdict == "incomplete" and sum(row.ok for row in r.rows) == 25 and words in r.message


def test_tensors_before_backward_or_not_tinytapes_are_explained(lecture_graph):
    torch = pytest.importorskip("torch")
    _, _, good = lecture_graph
    before = lecture.run(tinytape, lecture.setup(use_torch=False), backward=False)
    r = check.gradients(good, before, quiet=True)
    assert r.verdict == "incomplete" and "call loss.backward() first" in r.message
    r = check.gradients(good, {"x": 1, "np": np}, quiet=True)
    assert r.verdict == "incomplete" and "no tinytape tensors among the 2 names" in r.message
    r = check.gradients(good, lecture.run(torch, lecture.setup(use_torch=False)), quiet=True)
    assert "they are torch tensors" in r.message and "check.against" in r.message


def test_arguments_that_are_not_dicts_raise_a_type_error_that_says_so(lecture_graph):
    t, _, good = lecture_graph
    with pytest.raises(TypeError, match=r"takes your gradients as a dict .* got a list"):
        check.gradients([good["probs"]], t)
    with pytest.raises(TypeError, match=r"takes the forward tensors as a dict .*locals\(\).* got a Tensor"):
        check.gradients(good, t["loss"])
