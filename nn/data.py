"""names.txt to the lecture's dataset: vocabulary, context windows, the 80/10/10 split.

Where names.txt comes from, first match wins (the one lookup that nn, every demo and the tests use):
  1. an explicit path (load_dataset(path) / python -m nn.train --names PATH);
  2. the TINYTAPE_NAMES environment variable;
  3. a cached copy, $XDG_CACHE_HOME/tinytape/names.txt (default ~/.cache/tinytape/names.txt);
  4. a download from the makemore repository into that cache, its sha256 checked. A failed or
     corrupt download leaves no file behind and the error says how to provide the file.
     TINYTAPE_OFFLINE=1 (or download_ok=False) skips this step.
An explicit path or TINYTAPE_NAMES that does not exist is an error (never a silent fallback).
"""
import hashlib
import os
import random
import shlex
import sys
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
NAMES_SHA256 = "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d"
ENV_VAR = "TINYTAPE_NAMES"
OFFLINE_VAR = "TINYTAPE_OFFLINE"         # set to 1: never download names.txt
MAX_DOWNLOAD = 16 << 20                  # names.txt is 228 kB; anything this big is not it

# The vocabulary: '.' (start and end of a name) is 0, 'a'..'z' are 1..26, as the lecture's
# `stoi = {s: i+1 for i, s in enumerate(sorted(set(''.join(words))))}; stoi['.'] = 0` on names.txt.
CHARS = ".abcdefghijklmnopqrstuvwxyz"
stoi = {s: i for i, s in enumerate(CHARS)}
itos = {i: s for s, i in stoi.items()}
vocab_size = len(CHARS)


class NamesNotFoundError(FileNotFoundError):
    """names.txt is neither given, nor cached, nor downloadable."""


def default_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "tinytape"


def offline():
    """True when TINYTAPE_OFFLINE is set to something other than '', '0', 'no' or 'false'."""
    return os.environ.get(OFFLINE_VAR, "").strip().lower() not in ("", "0", "no", "false")


def shown(path):
    """A path as a person reads it: ~/... under the home directory."""
    path = Path(path)
    try:
        return "~/" + path.resolve().relative_to(Path.home().resolve()).as_posix()
    except (ValueError, RuntimeError, OSError):
        return str(path)


def how_to_provide(cache_dir=None, command=None):
    """Lines that say how to give names.txt. `command` is how the user passes a path in the
    command they ran (default: the Python call), e.g. 'make demo ARGS="--names PATH"'."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    command = command or "nn.load_dataset(PATH)"
    return ("Give names.txt (32,033 names, one a line) in one of these ways:\n"
            f"  {command}\n"
            f"  export {ENV_VAR}=PATH\n"
            f"  cp PATH {shown(cache / 'names.txt')}\n"
            f"The file: {NAMES_URL}")


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def download(url, dest, sha256=NAMES_SHA256, timeout=30, command=None):
    """Fetch `url` to `dest` through a temporary file, which replaces `dest` only if its sha256 is
    `sha256`. On any failure nothing is left behind and the error says how to provide the file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        digest = hashlib.sha256()
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "xb") as f:
            size = 0
            while chunk := response.read(1 << 16):
                size += len(chunk)
                if size > MAX_DOWNLOAD:
                    raise ValueError(f"more than {MAX_DOWNLOAD} bytes: this is not names.txt")
                digest.update(chunk)
                f.write(chunk)
            expected = response.headers.get("Content-Length")
            if expected is not None and expected.isdigit() and size != int(expected):
                raise ValueError(f"incomplete download: {size} of {expected} bytes")
        if digest.hexdigest() != sha256:
            raise ValueError(f"sha256 mismatch: got {digest.hexdigest()}, expected {sha256}")
        os.replace(tmp, dest)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if not isinstance(e, Exception):                   # KeyboardInterrupt: clean up, re-raise
            raise
        raise NamesNotFoundError(f"names.txt was not found and could not be downloaded from {url}\n"
                                 f"  {type(e).__name__}: {e}\n"
                                 f"{how_to_provide(dest.parent, command)}") from e
    return dest


def names_path(path=None, *, cache_dir=None, url=None, sha256=NAMES_SHA256, download_ok=None,
               timeout=30, command=None):
    """The path of names.txt, resolved as the module docstring says (may download into the cache
    from `url`, default NAMES_URL, unless download_ok is False or TINYTAPE_OFFLINE is set).
    `command` goes into the error message: how the user passes a path (see how_to_provide)."""
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise NamesNotFoundError(f"names file {path} does not exist (or is not a file).\n"
                                     f"{how_to_provide(cache_dir, command)}")
        return path
    env = os.environ.get(ENV_VAR)
    if env:
        if not Path(env).expanduser().is_file():
            raise NamesNotFoundError(f"{ENV_VAR}={env} does not point to a file.\n"
                                     f"{how_to_provide(cache_dir, command)}")
        return Path(env).expanduser()
    cached = Path(cache_dir if cache_dir is not None else default_cache_dir()) / "names.txt"
    if cached.is_file() and _sha256(cached) == sha256:
        return cached
    if download_ok is None:
        download_ok = not offline()
    if not download_ok:
        what = "is corrupt (wrong sha256)" if cached.is_file() else "was not found"
        why = f"{OFFLINE_VAR} is set" if offline() else "downloading is off"
        raise NamesNotFoundError(f"names.txt {what} at {shown(cached)} and {why}.\n"
                                 f"{how_to_provide(cached.parent, command)}")
    return download(url or NAMES_URL, cached, sha256, timeout, command)   # replaces a corrupt copy only on success


PROG_VAR = "TINYTAPE_PROG"                # the command a person typed, when a Makefile ran us ("make demo")


def command(prog, argv=None, flags="--names PATH"):
    """The command the user ran, with `flags` in place of the same flag's earlier value:
    command("python -m nn.train", ["--quick"]) is 'python -m nn.train --quick --names PATH'. When
    TINYTAPE_PROG says a Makefile target ran it (make demo), that target with ARGS="...". """
    prog = os.environ.get(PROG_VAR) or prog
    argv = sys.argv[1:] if argv is None else argv
    flag = flags.split()[0]
    args, skip = [], False
    for a in (argv or []):
        if skip:
            skip = False
        elif a == flag:
            skip = True
        elif not a.startswith(flag + "="):
            args.append(a)
    text = " ".join([shlex.quote(a) for a in args] + [flags])
    return f'{prog} ARGS="{text}"' if prog.startswith("make ") else f"{prog} {text}"


def find_names(path=None, **kwargs):
    """names_path(path, ...), or None when nothing was asked for (no path, no TINYTAPE_NAMES) and
    names.txt is neither cached nor downloadable: the demos then fall back to synthetic data. A
    path or TINYTAPE_NAMES that does not exist still raises NamesNotFoundError."""
    if path is not None or os.environ.get(ENV_VAR):
        return names_path(path, **kwargs)
    try:
        return names_path(None, **kwargs)
    except NamesNotFoundError:
        return None


def read_names(path):
    """The names in a file, one a line; every name non-empty and made of a-z only."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path} is not UTF-8 text ({e}): expected one lower-case name a line") from None
    words = text.splitlines()
    if not any(w.strip() for w in words):
        raise ValueError(f"{path} is empty: expected one lower-case name (a-z) a line")
    letters = set(CHARS[1:])
    bad = []
    for i, w in enumerate(words, 1):
        if not w:
            bad.append(f"line {i} is empty")
        elif not set(w) <= letters:
            c = next(c for c in w if c not in letters)
            bad.append(f"line {i} {w!r} has {c!r}")
        if len(bad) == 5:
            break
    if bad:
        raise ValueError(f"{path}: names must be made of the letters a-z only (the vocabulary is "
                         f"'.' and a-z): " + "; ".join(bad))
    return words


def load_names(path=None, **kwargs):
    """read_names(names_path(path, ...))."""
    return read_names(names_path(path, **kwargs))


def encode(name):
    return [stoi[c] for c in name]


def decode(ids):
    return "".join(itos[int(i)] for i in ids)


def build_dataset(words, block_size=3):
    """Every (context, next character) pair, as the lecture builds them: X (N, block_size) and
    Y (N,), int64. Each name contributes len(name) + 1 examples (its end '.' included)."""
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]
    X = np.array(X, dtype=np.int64).reshape(len(X), block_size)
    return X, np.array(Y, dtype=np.int64)


def split_words(words, seed=42):
    """The lecture's split: random.seed(42); random.shuffle(words); 80% / 10% / 10%.
    Works on a copy with its own random.Random, so neither `words` nor the global state change."""
    words = list(words)
    random.Random(seed).shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return words[:n1], words[n1:n2], words[n2:]


@dataclass(frozen=True)
class Dataset:
    """The three splits as (X, Y) numpy pairs: train, val (the lecture's dev) and test."""
    train: tuple
    val: tuple
    test: tuple
    block_size: int

    def __getitem__(self, split):
        if split not in ("train", "val", "test"):
            raise KeyError(f"split must be 'train', 'val' or 'test', got {split!r}")
        return getattr(self, split)

    # the lecture's names
    Xtr = property(lambda self: self.train[0])
    Ytr = property(lambda self: self.train[1])
    Xdev = property(lambda self: self.val[0])
    Ydev = property(lambda self: self.val[1])
    Xte = property(lambda self: self.test[0])
    Yte = property(lambda self: self.test[1])


def load_dataset(path=None, block_size=3, seed=42, **kwargs):
    """names.txt (found as the module docstring says) as the lecture's train/val/test dataset."""
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    words = load_names(path, **kwargs)
    tr, va, te = split_words(words, seed)
    return Dataset(build_dataset(tr, block_size), build_dataset(va, block_size),
                   build_dataset(te, block_size), block_size)
