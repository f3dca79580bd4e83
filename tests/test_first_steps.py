"""A learner's first hour, as files and commands: the wheel, the README's first steps run as
written, `make notebook` up to the server, and docs that stand alone (no path outside the
repository, no words that mean nothing to a reader)."""
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section(text, heading):
    """The body of a markdown section, from its heading to the next heading of the same level or
    higher (outside code blocks, where `# my.py` is a comment)."""
    level = len(heading.split()[0])
    lines = text[text.index(heading + "\n") + len(heading) + 1:].splitlines(keepends=True)
    body, fenced = [], False
    for line in lines:
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"#{1,%d} " % level, line):
            break
        body.append(line)
    return "".join(body)


def blocks(text, lang):
    return re.findall(r"^```%s\n(.*?)^```" % lang, text, re.M | re.S)


# ---------------------------------------------------------------------------------- packaging
def test_the_wheel_installs_tinytape_and_nn_and_the_training_command(tmp_path):
    src = tmp_path / "src"
    for name in ("tinytape", "nn"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "demos", src / "demos", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (wheel,) = (tmp_path / "dist").glob("tinytape-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    info = {n for n in top if n.endswith(".dist-info")}
    assert top - info == {"tinytape", "nn"} and len(info) == 1        # demos/ is in the source, not the wheel
    assert {"tinytape/__init__.py", "tinytape/optim/__init__.py", "tinytape/nn/__init__.py", "nn/__init__.py",
            "nn/train.py"} <= set(names)
    assert not [n for n in names if n.startswith(("demos/", "tests/"))]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert re.search(r"^\[console_scripts\]\ntinytape-train = nn\.train:main$", text, re.M), text
    # the console script, installed from the wheel, is nn.train's command under its own name
    target = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                           str(wheel)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "PYTHONPATH": str(target)}
    usage = subprocess.run([str(target / "bin" / "tinytape-train"), "--help"], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=60)
    assert usage.returncode == 0, usage.stderr
    assert usage.stdout.startswith("usage: tinytape-train ") and "--quick" in usage.stdout
    assert not (src / "build").exists() or git_ignores("build/x")


def git_ignores(path):
    done = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, capture_output=True)
    return done.returncode == 0


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_what_builds_and_runs_leave_behind_is_ignored():
    for path in ("build/lib/tinytape/__init__.py", "dist/tinytape-0.1.0.whl", "tinytape.egg-info/PKG-INFO",
                 ".venv/bin/python", "out/quick/mlp.npz", "demos/.ipynb_checkpoints/x.ipynb"):
        assert git_ignores(path), path


def test_the_extras_hold_what_the_commands_need():
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    names = {k: {re.split(r"[<>=!\[ ]", r)[0] for r in v} for k, v in extras.items()}
    assert {"matplotlib", "tqdm"} <= names["demo"]
    assert {"jupyterlab", "ipywidgets", "ipykernel", "tqdm"} <= names["notebook"]
    assert {"tqdm", "setuptools", "nbclient", "ipykernel"} <= names["test"]
    assert "torch==2.13.0" in extras["test"]


# ---------------------------------------------------------------------------------- the README's first steps
def test_the_readmes_own_code_lines_run_as_written(tmp_path):
    """The "Your own code" section: my.py as shown, then the shell lines after `make venv`, in a
    directory outside the repository whose .venv is the environment these tests run in (the one
    `make venv` makes has tinytape installed the same way, editable)."""
    body = section(README, "### Your own code")
    (script,) = blocks(body, "python")
    (shell,) = blocks(body, "sh")
    assert script.startswith("# my.py\n")
    (tmp_path / "my.py").write_text(script)
    (tmp_path / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    lines = [ln for ln in shell.splitlines() if ln.strip()]
    assert lines[0].split()[:2] == ["make", "venv"]
    run = "set -e\n" + "\n".join(lines[1:]) + "\n"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    done = subprocess.run(["bash", "-c", run], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    # each python line printed the script's result, with the numbers tinytape computes
    import tinytape as torch
    import tinytape.functional as F
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, generator=g)
    W = torch.randn(3, 2, generator=g, requires_grad=True)
    loss = F.cross_entropy(x @ W, torch.tensor([0, 1, 0, 1, 1, 0, 0, 1]))
    expected = f"loss {loss.item():.4f}, dloss/dW has shape (3, 2)"
    runs = sum(ln.split()[0].endswith("python") for ln in lines[1:])
    assert runs == 2 and done.stdout.splitlines() == [expected] * runs


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("target, commands", [
    ("venv", ["-m venv .venv", ".venv/bin/pip install -q -e '.[demo]'"]),
    ("notebook", [".venv/bin/pip install -q -e '.[notebook]'", ".venv/bin/jupyter lab demos/backprop_ninja.ipynb"]),
    ("demo", ['TINYTAPE_PROG="make demo" .venv/bin/python -m nn.train']),
])
def test_the_readmes_make_targets_exist(target, commands):
    assert f"make {target}" in README
    done = subprocess.run(["make", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for c in commands:
        assert c in done.stdout, (c, done.stdout)


def test_jupyterlab_starts_where_make_notebook_installed_it(tmp_path):
    """`make notebook` up to the server: the JupyterLab that the `notebook` extra installed into .venv
    answers --version (skipped where `make notebook` has not been run; the notebook itself is
    executed by test_demos with the kernel of the test environment)."""
    jupyter = ROOT / ".venv" / "bin" / "jupyter"
    if not jupyter.exists():
        pytest.skip("make notebook has not been run here (.venv has no jupyter)")
    done = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", done.stdout.strip())


@pytest.mark.skipif(os.environ.get("TINYTAPE_HEAVY") != "1", reason="installs JupyterLab: TINYTAPE_HEAVY=1")
def test_make_notebook_on_a_fresh_copy(tmp_path):
    """The whole target on a copy of the repository: the extra installs, JupyterLab starts (and
    stops at --version), and the installed kernel executes the notebook."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    done = subprocess.run(["make", "notebook", "ARGS=--version"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stderr
    assert re.search(r"^\d+\.\d+\.\d+", done.stdout.splitlines()[-1])
    env = {**os.environ, "TINYTAPE_OFFLINE": "1", "TINYTAPE_OUT": str(tmp_path / "nbout")}
    env.pop("PYTHONPATH", None)
    done = subprocess.run([str(tmp_path / ".venv" / "bin" / "jupyter"), "execute", "--inplace",
                           "demos/backprop_ninja.ipynb"], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "verdict: fail | first wrong: counts" in (tmp_path / "demos" / "backprop_ninja.ipynb").read_text()


# ---------------------------------------------------------------------------------- docs that stand alone
OUTSIDE = re.compile(r"\.\./|(?<![\w.])shared/|/work/|/tmp/run|/home/\w+|/root/")
INTERNAL = re.compile(r"\bissues? ?#?\d+|\bseed 00\d|\btech lead\b|\bthe lead\b|\bengineers?\b|(?-i:\bPRECISION\.md\b)|"
                      r"\bsession\b|\bticket\b|\bthis work\b", re.I)


def reader_files():
    """What a reader of the repository sees: the README, docs/, the demos (their source and what
    they print) and the notebook (its text and its stored outputs)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "demos").glob("*.py")),
             ROOT / "demos" / "backprop_ninja.ipynb", ROOT / "nn" / "train.py", ROOT / "nn" / "data.py"]
    return [f for f in files if f.is_file()]


@pytest.mark.parametrize("path", reader_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_path_outside_the_repository_and_no_internal_words(path):
    text = path.read_text()
    if path.suffix == ".ipynb":                            # base64 pictures are not words
        text = re.sub(r'"image/png": "[^"]*"', "", text)
    bad = [(text.count("\n", 0, m.start()) + 1, m.group()) for m in OUTSIDE.finditer(text)]
    bad += [(text.count("\n", 0, m.start()) + 1, m.group()) for m in INTERNAL.finditer(text)]
    assert not bad, f"{path.name}: {bad}"


def test_the_grep_finds_what_it_is_for():
    """The patterns above catch the phrases they are meant to catch, and pass ordinary text."""
    for phrase in ("../shared/design/PRECISION.md", "TINYTAPE_NAMES=/work/shared/data/names.txt",
                   "the target of issue 5", "seed 003's init", "another engineer's test suite",
                   "the tech lead integrates it"):
        assert OUTSIDE.search(phrase) or INTERNAL.search(phrase), phrase
    for phrase in ("docs/precision.md", "~/.cache/tinytape/names.txt", "python -m demos.exercise1",
                   "the lecture's seed 2147483647", "out/quick/mlp.npz", "a shared 2-core VM"):
        assert not (OUTSIDE.search(phrase) or INTERNAL.search(phrase)), phrase


def test_precision_notes_are_in_the_repository():
    text = (ROOT / "docs" / "precision.md").read_text()
    for words in ("bit-identical", "rtol 1e-5", "rtol 1e-4", "ulp", "b1", "finite differences", "Ties"):
        assert words.lower() in text.lower(), words
    assert "docs/precision.md" in README
