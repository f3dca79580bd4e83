"""Acceptance: the lectures' own code runs on tinytape as written, and prints what torch prints.

Every code cell of the makemore notebooks (parts 1, 2 and 4) runs on torch and, with only its
imports changed, on tinytape (`tests/lectures.py` says how, and what else the harness does to the
code: magics, Agg, shortened loops). One test per cell, e.g. `test_part2[cell-17]`:

- a cell that runs on torch must run on tinytape (an exception names the cell's line and the error);
  a cell that raises on torch (the notebooks are not all in running order) must raise the same
  exception type on tinytape;
- what it printed, its displayed value and its figures must agree with torch's: equal text after
  `torch.` -> `tinytape.`, numbers within tolerance (`lectures.compare`);
- a warning on tinytape's side of a category torch did not warn with is a difference.

RANDOM lists the cells that cannot be compared in full, with the reason (tinytape reproduces torch's
random streams, so every other cell, sampled names included, is compared number for number).
Removing a cell from RANDOM turns on the full comparison. XFAIL lists known failures, each with the reason (strict, so a cell
that starts to pass fails until its entry is removed); it is empty.
"""
import pytest

import lectures
from lectures import cell_id

SKIP = lectures.available()

# cell -> (comparison mode, why its values come from the random stream)
RANDOM = {
    "part2[cell-28]": ("drift", "the loss curve of 300 float32 training steps (numpy's and torch's sums drift)"),
    "part2[cell-31]": ("drift", "the embedding C after 300 float32 training steps"),
    "part4[cell-10]": ("flags", "cmp's verdicts: tinytape's rules are the lecture's formulas, so the tape is exact "
                                "where torch's own tanh backward is 1 ulp off (exact: False from hpreact up)"),
}


# cell -> why it fails today (strict: remove the entry once the engine fixes it)
XFAIL = {}


def _params(notebook):
    if SKIP:
        return [pytest.param(None, id="absent", marks=pytest.mark.skip(reason=SKIP))]
    params = []
    for i in range(len(lectures.code_cells(notebook))):
        cid = cell_id(notebook, i)
        marks = [pytest.mark.xfail(strict=True, reason=XFAIL[cid])] if cid in XFAIL else []
        params.append(pytest.param(i, id=f"cell-{i}", marks=marks))
    return params


@pytest.fixture(scope="module")
def part1():
    return lectures.run_notebook("part1")


@pytest.fixture(scope="module")
def part2():
    return lectures.run_notebook("part2")


@pytest.fixture(scope="module")
def part4():
    return lectures.run_notebook("part4")


@pytest.mark.parametrize("cell", _params("part1"))
def test_part1(cell, part1):
    check("part1", cell, part1)


@pytest.mark.parametrize("cell", _params("part2"))
def test_part2(cell, part2):
    check("part2", cell, part2)


@pytest.mark.parametrize("cell", _params("part4"))
def test_part4(cell, part4):
    check("part4", cell, part4)


def check(notebook, index, results):
    cid = cell_id(notebook, index)
    ref, got, code = results[index]
    if ref.error is not None:
        if got.error is None:
            pytest.fail(f"{cid} raises on torch ({ref.describe_error()}) but runs on tinytape")
        if got.error[0] != ref.error[0]:
            pytest.fail(f"{cid} raises {ref.error[0]} on torch, {got.error[0]} on tinytape:\n"
                        f"  torch:    {ref.describe_error()}\n  tinytape: {got.describe_error()}")
        return
    if got.error is not None:
        pytest.fail(f"{cid} runs on torch, not on tinytape: {got.describe_error()}")
    mode, _ = RANDOM.get(cid, ("full", None))
    problems = []
    for what in ("stdout", "display", "figures"):
        diff = lectures.compare(getattr(ref, what), getattr(got, what), mode)
        if diff:
            problems.append(f"{what}: {diff}\n  torch:\n{_indent(getattr(ref, what))}\n"
                            f"  tinytape:\n{_indent(getattr(got, what))}")
    torch_kinds = {w.split(":")[0] for w in ref.warnings}
    extra = [w for w in got.warnings if w.split(":")[0] not in torch_kinds]
    if extra:
        problems.append("warnings torch did not give: " + "; ".join(extra))
    if problems:
        pytest.fail(f"{cid} ({mode} comparison) differs from torch:\n" + "\n".join(problems))


def _indent(text):
    return "\n".join("    " + ln for ln in lectures.short(text).splitlines()) or "    (nothing)"


# ------------------------------------------------------------------------------ the tables themselves
def test_tables_name_real_cells():
    """RANDOM and XFAIL name existing cells (of notebooks present), with a known mode and a reason."""
    if SKIP:
        pytest.skip(SKIP)
    cells = {cell_id(nb, i) for nb in lectures.NOTEBOOKS for i in range(len(lectures.code_cells(nb)))}
    assert not set(RANDOM) - cells, f"RANDOM names cells that do not exist: {sorted(set(RANDOM) - cells)}"
    assert not set(XFAIL) - cells, f"XFAIL names cells that do not exist: {sorted(set(XFAIL) - cells)}"
    assert all(mode in lectures.MODES and mode != "full" and reason for mode, reason in RANDOM.values())
    assert all(XFAIL.values())


def test_shortened_loops_match_their_cells():
    """Each substitution of lectures.SHORTEN still finds its text (the notebooks could change)."""
    if SKIP:
        pytest.skip(SKIP)
    for nb, subs in lectures.SHORTEN.items():
        cells = lectures.code_cells(nb)
        for i, old, new in subs:
            assert old in cells[i], f"{cell_id(nb, i)} no longer contains {old!r}"
            assert new in lectures.prepare(cells[i], "torch", nb, i)
            assert new in lectures.prepare(cells[i], "tinytape", nb, i)


def test_imports_are_the_only_edit():
    """The tinytape side of every cell is the torch side with the two imports changed, nothing else."""
    if SKIP:
        pytest.skip(SKIP)
    for nb in lectures.NOTEBOOKS:
        for i, src in enumerate(lectures.code_cells(nb)):
            a = lectures.prepare(src, "torch", nb, i).splitlines()
            b = lectures.prepare(src, "tinytape", nb, i).splitlines()
            assert len(a) == len(b)
            for x, y in zip(a, b):
                if x != y:
                    assert (x.strip(), y.strip()) in {("import torch", "import tinytape as torch"),
                                                      ("import torch.nn.functional as F",
                                                       "import tinytape.functional as F")}, (x, y)


# ------------------------------------------------------------------------------ the harness itself
# (these need neither the notebooks nor names.txt)
@pytest.mark.parametrize("torch_text, tinytape_text", [
    ("torch.Size([5, 27])", "tinytape.Size([5, 27])"),                  # torch. -> tinytape.
    ("tensor([0.0205, 0.0023,\n        1.0000])", "tensor([0.0206, 0.0023, 1.    ])"),   # last digit, wrapping
    ("tensor(-32209.6992)", "tensor(-32209.7)"),                        # within RTOL
    ("maxdiff: 0.0", "maxdiff: 4.656612873077393e-10"),                 # within ATOL
    ("tensor(1.3970e-09)", "tensor(0.)"),
    ("<matplotlib.image.AxesImage at 0x7fa0dab44fa0>", "<matplotlib.image.AxesImage at 0x1234>"),
    ("W1 | exact: True", "W1 | exact: True"),                           # a digit inside a name is text
])
def test_compare_accepts(torch_text, tinytape_text):
    assert lectures.compare(torch_text, tinytape_text) is None


@pytest.mark.parametrize("torch_text, tinytape_text, what", [
    ("torch.Size([3])", "(3,)", "text differs"),
    ("tensor(2.4765)", "tensor(2.4800)", "number differs"),            # beyond a printed unit
    ("3.7693049907684326", "3.7701", "number differs"),                # beyond RTOL + a unit
    ("number of examples:  228146", "number of examples: 228145", "number differs"),   # integers exactly
    ("5", "5.0", "number differs"),                                     # int vs float
    ("tensor([1, 2])", "tensor([1, 2, 3])", "text differs"),
    ("exact: True", "exact: False", "text differs"),
    ("2.2949554920196533", "tensor(2.295)", "text differs"),
    ("x = 5", "x = ", "number count differs"),
])
def test_compare_rejects(torch_text, tinytape_text, what):
    diff = lectures.compare(torch_text, tinytape_text)
    assert diff is not None and diff.startswith(what), diff


def test_compare_modes():
    a, b = "tensor([0.6064, 0.3033])", "tensor([0.1647, 0.5680])"
    assert lectures.compare(a, b) is not None
    assert lectures.compare(a, b, "numbers") is None
    assert lectures.compare(a, "tensor([0.6064, 0.3033, 0.1])", "numbers") is not None   # the shape still counts
    assert lectures.compare("tensor([1, 2])", "tensor([1., 2.])", "numbers") is not None  # and the kind
    flags = "logits | exact: True  | maxdiff: 0.0", "logits | exact: False | maxdiff: 1e-9"
    assert lectures.compare(*flags, "numbers") is not None
    assert lectures.compare(*flags, "flags") is None
    assert lectures.compare("logits | exact: True", "probs | exact: True", "flags") is not None
    names = "mor.\naxx.\nminaymoryles.\n", "dyande.\n.\nar.\n"
    assert lectures.compare(*names, "flags") is not None
    assert lectures.compare(*names, "text") is None
    assert lectures.compare(names[0], "dyande.\nar.\n", "text") is not None              # one name fewer


def test_run_cell_is_jupyter():
    """stdout, the last expression displayed (not after `;`), and errors with their line."""
    ns = {}
    out = lectures.run_cell("x = [1, 2]\nprint('hi')\nx + [3]\n", ns, "<cell>")
    assert (out.stdout, out.display, out.error) == ("hi\n", "[1, 2, 3]", None)
    assert lectures.run_cell("x\n", ns, "<cell>").display == "[1, 2]"
    assert lectures.run_cell("x;\n", ns, "<cell>").display == ""
    assert lectures.run_cell("y = 1\n", ns, "<cell>").display == ""
    out = lectures.run_cell("a = 1\nb = x[5]\nc = 3\n", ns, "<cell>")
    assert out.error == ("IndexError", "list index out of range", 2, "b = x[5]") and "c" not in ns


def test_prepare_changes_only_the_imports():
    src = "import torch\nimport torch.nn.functional as F\n%matplotlib inline\nx = torch.zeros(3)  # torch\n"
    assert lectures.prepare(src, "torch") == "import torch\nimport torch.nn.functional as F\nx = torch.zeros(3)  # torch\n"
    assert lectures.prepare(src, "tinytape") == ("import tinytape as torch\nimport tinytape.functional as F\n"
                                                 "x = torch.zeros(3)  # torch\n")
    with pytest.raises(AssertionError, match="does not know how to port"):
        lectures.prepare("import torch.nn as nn\n", "tinytape")


def _outcome(**kw):
    return lectures.Outcome(**kw)


def test_check_fails_where_it_should():
    fail = pytest.fail.Exception
    ok = _outcome(display="tensor(1.)")
    with pytest.raises(fail, match=r"part9\[cell-0\] runs on torch, not on tinytape: RuntimeError at line 2: "
                                   r"'y = x\.log10\(\)': boom"):
        check("part9", 0, {0: (ok, _outcome(error=("RuntimeError", "boom", 2, "y = x.log10()")), "")})
    with pytest.raises(fail, match="raises on torch"):
        check("part9", 0, {0: (_outcome(error=("NameError", "P", 1, "P")), ok, "")})
    with pytest.raises(fail, match="raises NameError on torch, IndexError on tinytape"):
        check("part9", 0, {0: (_outcome(error=("NameError", "", 1, "")), _outcome(error=("IndexError", "", 1, "")), "")})
    with pytest.raises(fail, match="display: number differs"):
        check("part9", 0, {0: (ok, _outcome(display="tensor(2.)"), "")})
    with pytest.raises(fail, match="warnings torch did not give: RuntimeWarning"):
        check("part9", 0, {0: (ok, _outcome(display="tensor(1.)", warnings=["RuntimeWarning: overflow"]), "")})
    check("part9", 0, {0: (ok, _outcome(display="tensor(1.0000)"), "")})
    check("part9", 0, {0: (_outcome(error=("NameError", "a", 1, "")), _outcome(error=("NameError", "b", 1, "")), "")})
