"""Run the official lecture notebooks' code on torch and on tinytape, cell by cell, and compare.

The lecture notebooks (makemore parts 1, 2 and 4) are not part of the repository: they are read from
`../shared/lectures/` beside the repository (where CI has them), and names.txt from $TINYTAPE_NAMES
(or `../shared/data/names.txt`). `tests/test_lectures.py` skips with the reason when either is absent.

Each notebook's code cells run in order, twice, each time in a fresh namespace: once as written
(real torch) and once with only the imports changed:

    import torch                      ->  import tinytape as torch
    import torch.nn.functional as F   ->  import tinytape.functional as F

Nothing else in the lecture's code is edited, except, identically on both sides:
- IPython magics (`%matplotlib inline`) are dropped;
- matplotlib uses the Agg backend and `plt.show` does nothing; every figure is closed after its cell
  (as Jupyter's inline backend does);
- the long loops are shortened by the textual substitutions of `SHORTEN` below (one small table per
  notebook; each substitution must match its cell's text, so the table cannot go stale silently);
- the working directory is a temporary directory holding names.txt;
- the global generator is seeded with `SEED` before the first cell (`torch.manual_seed`,
  `tinytape.manual_seed`): the notebooks draw from it (`torch.randn((27, 2))`, `torch.randint`
  without a generator), and the seed makes those draws repeatable on torch.

For each cell three texts are kept per engine, as a learner would see them: what it printed, the
display of its last expression (IPython's pretty repr, as Jupyter shows it; nothing after a
trailing `;`), and a description of the figures it drew (images, lines, points, texts, with their
numbers). An exception ends the cell and is kept with the line of the cell that raised it.

`compare(torch_text, tinytape_text)` decides whether two outputs agree: after `torch.` -> `tinytape.`
and with whitespace ignored (tensors wrap their lines differently), the texts must be equal except
numbers, which are parsed out of the text and compared: integers exactly, floats within
`RTOL * |x| + ATOL` plus one unit of the last printed digit (a tensor prints 4 decimals; a float32
computed by numpy and by torch differs by ~1e-4 relative after a few composite ops). An integer
printed on one side and a float on the other is a difference. `mode="numbers"` compares everything
but the numbers' values (for outputs that come from torch's random stream, which tinytape does not
reproduce yet); `mode="flags"` also lets True and False differ (the lecture's `cmp` verdicts on
random values) and `mode="text"` every run of letters (sampled names).
"""
import ast
import contextlib
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LECTURES = REPO.parent / "shared" / "lectures"

NOTEBOOKS = {
    "part1": "makemore_part1_bigrams.ipynb",
    "part2": "makemore_part2_mlp.ipynb",
    "part4": "makemore_part4_backprop.ipynb",
}

SEED = 2147483647

# Loops shortened for the suite's time budget: notebook -> [(code cell index, old text, new text)].
# The same substitution runs on both engines, so the comparison stays like for like; the cells'
# outputs are then those of the shorter run (fewer training steps, fewer bigrams counted).
SHORTEN = {
    "part1": [
        # counting all 228,146 bigrams one `N[ix1, ix2] += 1` at a time, and then taking the log of
        # each one's probability, are 228,146 tensor ops each: 2,000 words (14,035 bigrams) are enough
        (10, "for w in words:", "for w in words[:2000]:"),
        (26, "for w in words:", "for w in words[:2000]:"),
    ],
    "part2": [
        # 200,000 training steps -> 300 (the step decay at 100,000 is then never reached)
        (27, "for i in range(200000):", "for i in range(300):"),
    ],
    "part4": [
        # 200,000 training steps of the manual backward -> 100 (each step has a 96-iteration loop)
        (21, "max_steps = 200000", "max_steps = 100"),
    ],
}

RTOL = 1e-4
ATOL = 1e-6

_IMPORT_F = re.compile(r"^(\s*)import torch\.nn\.functional as F(\s*(#.*)?)$")
_IMPORT_TORCH = re.compile(r"^(\s*)import torch(\s*(#.*)?)$")
_ANY_TORCH_IMPORT = re.compile(r"^\s*(import torch\b|from torch\b)")


def available():
    """None when the notebooks and names.txt are present, else the reason to skip."""
    if not LECTURES.is_dir():
        return (f"the lecture notebooks are not beside the repository (looked for {LECTURES}); "
                f"they are kept out of the repository, CI has them in ../shared/lectures/")
    missing = [f for f in NOTEBOOKS.values() if not (LECTURES / f).is_file()]
    if missing:
        return f"lecture notebooks missing from {LECTURES}: {', '.join(missing)}"
    names = names_path()
    if names is None or not names.is_file():
        return ("names.txt not found: set TINYTAPE_NAMES to its path (or put it at ../shared/data/names.txt "
                "beside the repo)")
    return None


def names_path():
    env = os.environ.get("TINYTAPE_NAMES")
    if env:
        return Path(env)
    p = REPO.parent / "shared" / "data" / "names.txt"
    return p if p.is_file() else None


def code_cells(notebook):
    """The notebook's code cells' sources, in order (index = position among code cells)."""
    nb = json.loads((LECTURES / NOTEBOOKS[notebook]).read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def cell_id(notebook, index):
    return f"{notebook}[cell-{index}]"


def prepare(source, engine, notebook=None, index=None):
    """The cell's code as it runs on `engine` ("torch" or "tinytape"): magics dropped, loops shortened,
    and for tinytape the two imports changed (any other torch import is refused loudly)."""
    for nb, i, old, new in _shorten_for(notebook, index):
        if old not in source:
            raise AssertionError(f"SHORTEN: {cell_id(nb, i)} no longer contains {old!r}")
        source = source.replace(old, new)
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    if engine == "tinytape":
        out = []
        for ln in lines:
            ln = _IMPORT_F.sub(r"\1import tinytape.functional as F\2", ln)
            ln = _IMPORT_TORCH.sub(r"\1import tinytape as torch\2", ln)
            if _ANY_TORCH_IMPORT.match(ln):
                raise AssertionError(f"an import the harness does not know how to port: {ln.strip()!r}")
            out.append(ln)
        lines = out
    return "\n".join(lines) + "\n"


def _shorten_for(notebook, index):
    return [(notebook, i, old, new) for i, old, new in SHORTEN.get(notebook, []) if i == index]


# ------------------------------------------------------------------------------------ running
@dataclass
class Outcome:
    stdout: str = ""
    display: str = ""                 # Jupyter's Out[n]: pretty repr of the last expression, or ""
    figures: str = ""                 # what the cell drew
    error: tuple = None               # (type name, message, line number in the cell, that line)
    warnings: list = field(default_factory=list)
    seconds: float = 0.0

    def describe_error(self):
        if self.error is None:
            return "no error"
        kind, msg, lineno, line = self.error
        where = f"line {lineno}: {line.strip()!r}" if lineno else "(no line of the cell)"
        return f"{kind} at {where}: {msg}"


def _display(value):
    try:
        from IPython.lib.pretty import pretty
    except ImportError:                                   # pragma: no cover (IPython comes with ipykernel)
        return repr(value)
    return pretty(value)


def _quiet(source):
    """IPython shows nothing for a cell whose last line ends with `;`."""
    for ln in reversed(source.splitlines()):
        s = ln.split("#", 1)[0].strip()
        if s:
            return s.endswith(";")
    return False


def run_cell(source, namespace, filename):
    """Execute one cell as IPython does (statements, then the last expression displayed)."""
    out = Outcome()
    buf = io.StringIO()
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(buf):
        warnings.simplefilter("always")
        try:
            tree = ast.parse(source, filename=filename)
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), namespace)
            if last is not None:
                value = eval(compile(last, filename, "eval"), namespace)
                if value is not None and not _quiet(source):
                    out.display = _display(value)
        except Exception as e:                            # noqa: BLE001 (the cell's error is the result)
            lineno = None
            for frame, ln in traceback.walk_tb(e.__traceback__):
                if frame.f_code.co_filename == filename:
                    lineno = ln
            if lineno is None and isinstance(e, SyntaxError):
                lineno = e.lineno
            line = source.splitlines()[lineno - 1] if lineno else ""
            out.error = (type(e).__name__, str(e).split("\n")[0][:300], lineno, line)
    out.seconds = time.perf_counter() - t0
    out.stdout = buf.getvalue()
    out.warnings = [f"{w.category.__name__}: {w.message}" for w in caught]
    out.figures = _figures()
    return out


def _figures():
    """The open figures as text (images' arrays, lines' and points' coordinates, texts), then closed."""
    import numpy as np
    from matplotlib import pyplot as plt
    parts = []
    for num in plt.get_fignums():
        fig = plt.figure(num)
        w, h = (fig.get_size_inches() * fig.dpi).round().astype(int)
        parts.append(f"figure {w}x{h}")
        for ax in fig.axes:
            parts.append(f" axes axis={'on' if ax.axison else 'off'}")
            for im in ax.images:
                a = np.ma.getdata(im.get_array())
                parts.append(f"  image {list(a.shape)} {np.array2string(a.ravel(), threshold=10**6)}")
            for ln in ax.lines:
                xy = np.asarray(ln.get_xydata())
                parts.append(f"  line {list(xy.shape)} {np.array2string(xy.ravel(), threshold=10**6)}")
            for col in ax.collections:
                xy = np.asarray(col.get_offsets())
                parts.append(f"  points {list(xy.shape)} {np.array2string(xy.ravel(), threshold=10**6)}")
            for tx in ax.texts:
                x, y = tx.get_position()
                parts.append(f"  text ({float(x)}, {float(y)}) {tx.get_text()!r}")
    plt.close("all")
    return "\n".join(parts)


@contextlib.contextmanager
def _environment():
    """A temporary working directory holding names.txt, matplotlib on Agg with a silent plt.show."""
    import matplotlib
    matplotlib.use("Agg", force=True)
    from matplotlib import pyplot as plt
    old_cwd, old_show = os.getcwd(), plt.show
    tmp = tempfile.mkdtemp(prefix="tinytape-lectures-")
    shutil.copyfile(names_path(), os.path.join(tmp, "names.txt"))
    plt.show = lambda *a, **k: None
    os.chdir(tmp)
    try:
        yield
    finally:
        os.chdir(old_cwd)
        plt.show = old_show
        plt.close("all")
        shutil.rmtree(tmp, ignore_errors=True)


def run_notebook(notebook):
    """{cell index: (torch Outcome, tinytape Outcome, prepared tinytape source)} for every code cell."""
    import torch
    import tinytape
    cells = code_cells(notebook)
    torch_out, tinytape_out, tinytape_code = {}, {}, {}
    # torch on one thread: the notebooks' tensors are small, and on a busy two-core machine torch's
    # second thread makes a 300-step loop take seconds instead of a tenth of one
    # the global generators are put back as they were afterwards
    threads, torch_rng, tt_rng = torch.get_num_threads(), torch.get_rng_state(), tinytape.get_rng_state()
    grad_mode = tinytape.is_grad_enabled()
    torch.set_num_threads(1)
    try:
        with _environment():
            for engine, out in (("torch", torch_out), ("tinytape", tinytape_out)):
                namespace = {"__name__": "__main__"}
                (torch if engine == "torch" else tinytape).manual_seed(SEED)
                for i, src in enumerate(cells):
                    code = prepare(src, engine, notebook, i)
                    out[i] = run_cell(code, namespace, f"<{cell_id(notebook, i)} {engine}>")
                    if engine == "tinytape":
                        tinytape_code[i] = code
    finally:                                  # a cell that failed inside no_grad() may leave it off
        torch.set_num_threads(threads)
        torch.set_rng_state(torch_rng)
        tinytape.set_rng_state(tt_rng)
        torch.set_grad_enabled(True)
        tinytape.set_grad_enabled(grad_mode)
    return {i: (torch_out[i], tinytape_out[i], tinytape_code[i]) for i in range(len(cells))}


# ------------------------------------------------------------------------------------ comparing
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![\w])"
                     r"|(?<![\w.])[-+]?(?:inf|nan)(?!\w)")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_FLAGS = re.compile(r"\b(True|False)\b")
MODES = ("full", "drift", "numbers", "flags", "text")


def _normalise(text, is_torch):
    if is_torch:
        text = text.replace("torch.", "tinytape.")
    return _ADDRESS.sub(" at 0x", text)


def _tokens(text):
    """[(literal text without whitespace, number token or None), ...]"""
    out, pos = [], 0
    for m in _NUMBER.finditer(text):
        out.append((re.sub(r"\s+", "", text[pos:m.start()]), m.group()))
        pos = m.end()
    out.append((re.sub(r"\s+", "", text[pos:]), None))
    return out


def _is_int(tok):
    return re.fullmatch(r"[-+]?\d+", tok) is not None


def _unit(tok):
    """One unit of the last printed digit ("0.0205" -> 1e-4, "1.3970e-09" -> 1e-13, "1." -> 0)."""
    m = re.fullmatch(r"[-+]?(\d*)\.?(\d*)(?:[eE]([-+]?\d+))?", tok)
    if m is None or not m.group(2):
        return 0.0
    return 10.0 ** (-len(m.group(2)) + int(m.group(3) or 0))


DRIFT_RTOL = 1e-3


def numbers_agree(a, b, rtol=RTOL, atol=ATOL):
    """Whether two printed numbers agree: integers exactly, floats within tolerance."""
    if _is_int(a) != _is_int(b):
        return False
    if _is_int(a):
        return int(a) == int(b)
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= atol + rtol * max(abs(x), abs(y)) + max(_unit(a), _unit(b))


def compare(torch_text, tinytape_text, mode="full"):
    """None if the outputs agree, else a description of the first difference.
    mode: "full"; "drift": floats within DRIFT_RTOL, relative and absolute (float32 training over hundreds of steps, where
    numpy's and torch's summation orders drift apart); "numbers": numbers' values are not compared (their count and kind, integer or
    float, are); "flags": nor are the words True and False (`cmp`'s verdicts on random values);
    "text": nor are letters (sampled names, of any length: only their number and punctuation count)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    a, b = _normalise(torch_text, True), _normalise(tinytape_text, False)
    if mode == "text":
        a, b = _LETTERS.sub("", a), _LETTERS.sub("", b)
    elif mode == "flags":
        a, b = _FLAGS.sub("flag", a), _FLAGS.sub("flag", b)
    ta, tb = _tokens(a), _tokens(b)
    for k, ((la, na), (lb, nb)) in enumerate(zip(ta, tb)):
        if la != lb:
            return f"text differs: torch {_context(ta, k)!r} vs tinytape {_context(tb, k)!r}"
        if (na is None) != (nb is None):
            return f"number count differs near {_context(ta, k)!r} vs {_context(tb, k)!r}"
        if na is None:
            continue
        if mode == "drift":
            if not numbers_agree(na, nb, rtol=DRIFT_RTOL, atol=DRIFT_RTOL):
                return f"number differs beyond drift: torch {na} vs tinytape {nb} near {_context(ta, k)!r}"
        elif mode != "full":
            if _is_int(na) != _is_int(nb):
                return f"integer vs float: torch {na} vs tinytape {nb} near {_context(ta, k)!r}"
        elif not numbers_agree(na, nb):
            return f"number differs: torch {na} vs tinytape {nb} near {_context(ta, k)!r}"
    if len(ta) != len(tb):
        return f"lengths differ: torch has {len(ta) - 1} numbers, tinytape {len(tb) - 1}"
    return None


def _context(tokens, k):
    lo = max(0, k - 2)
    return "".join(lit + (num or "") for lit, num in tokens[lo:k + 1])[-120:]


def short(text, limit=600):
    text = text.rstrip("\n")
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more characters]"
