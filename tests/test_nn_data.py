"""nn.data: names.txt to the lecture's dataset, and every way of finding (or not finding) the file.

The download path is exercised against a local http.server on 127.0.0.1, never the network.
"""
import hashlib
import http.server
import random
import threading

import numpy as np
import pytest

import nn
from nn import data as nn_data
from names_file import NAMES, SKIP_REASON, needs_names






@pytest.fixture(scope="module")
def words():
    if NAMES is None:
        pytest.skip(SKIP_REASON)
    return nn.read_names(NAMES)


def lecture_stoi(words):
    stoi = {s: i + 1 for i, s in enumerate(sorted(set("".join(words))))}
    stoi["."] = 0
    return stoi


def lecture_dataset(words, block_size=3):
    """The lecture's own code (seeds 001-004), global random state and all."""
    stoi = lecture_stoi(words)

    def build_dataset(words):
        X, Y = [], []
        for w in words:
            context = [0] * block_size
            for ch in w + ".":
                ix = stoi[ch]
                X.append(context)
                Y.append(ix)
                context = context[1:] + [ix]
        return np.array(X), np.array(Y)

    words = list(words)
    state = random.getstate()
    try:
        random.seed(42)
        random.shuffle(words)
    finally:
        random.setstate(state)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    return stoi, build_dataset(words[:n1]), build_dataset(words[n1:n2]), build_dataset(words[n2:])


# ---------------------------------------------------------------------------------- the dataset
@needs_names
def test_names_file_is_the_lecture_one(words):
    assert hashlib.sha256(NAMES.read_bytes()).hexdigest() == nn.NAMES_SHA256
    assert len(words) == 32033
    assert words[:8] == ["emma", "olivia", "ava", "isabella", "sophia", "charlotte", "mia", "amelia"]
    assert max(len(w) for w in words) == 15


@needs_names
def test_vocabulary_is_the_lecture_one(words):
    stoi = lecture_stoi(words)
    assert nn.stoi == stoi
    assert nn.vocab_size == 27
    assert nn.stoi["."] == 0 and nn.stoi["a"] == 1 and nn.stoi["z"] == 26
    assert nn.itos == {i: s for s, i in stoi.items()}
    assert nn.decode(nn.encode("isabella")) == "isabella"
    assert nn.encode("abz") == [1, 2, 26]


@needs_names
def test_split_sizes_and_examples_match_the_lecture_exactly(words):
    data = nn.load_dataset(NAMES)
    assert data.Xtr.shape == (182625, 3) and data.Ytr.shape == (182625,)
    assert data.Xdev.shape == (22655, 3) and data.Ydev.shape == (22655,)
    assert data.Xte.shape == (22866, 3) and data.Yte.shape == (22866,)
    _, tr, va, te = lecture_dataset(words)
    for (X, Y), (LX, LY) in zip((data.train, data.val, data.test), (tr, va, te)):
        assert X.dtype == np.int64 and Y.dtype == np.int64
        np.testing.assert_array_equal(X, LX)
        np.testing.assert_array_equal(Y, LY)
    assert data["val"] is data.val
    with pytest.raises(KeyError, match="'train', 'val' or 'test'"):
        data["dev"]


@needs_names
def test_split_leaves_global_random_state_and_input_alone(words):
    before = random.getstate()
    original = list(words)
    tr, va, te = nn.split_words(words)
    assert random.getstate() == before
    assert words == original
    assert (len(tr), len(va), len(te)) == (25626, 3203, 3204)
    assert sorted(tr + va + te) == sorted(words)


def test_build_dataset_context_windows():
    X, Y = nn.build_dataset(["ab", "c"], block_size=3)          # "ab." and "c.": 3 + 2 examples
    np.testing.assert_array_equal(X, [[0, 0, 0], [0, 0, 1], [0, 1, 2], [0, 0, 0], [0, 0, 3]])
    np.testing.assert_array_equal(Y, [1, 2, 0, 3, 0])
    X5, Y5 = nn.build_dataset(["emma"], block_size=5)
    np.testing.assert_array_equal(X5[-1], [0, 5, 13, 13, 1])
    np.testing.assert_array_equal(Y5, [5, 13, 13, 1, 0])
    X0, Y0 = nn.build_dataset([], block_size=3)
    assert X0.shape == (0, 3) and Y0.shape == (0,)


# ---------------------------------------------------------------------------------- bad files
@pytest.mark.parametrize("content, match", [
    (b"", "is empty"),
    (b"\n\n  \n", "is empty"),
    (b"emma\nOlivia\nava\n", r"line 2 'Olivia' has 'O'"),
    (b"emma\nan na\n", r"line 2 'an na' has ' '"),
    (b"emma\nava1\n", r"line 2 'ava1' has '1'"),
    (b"emma\n\nava\n", "line 2 is empty"),
    (b"em.ma\n", r"has '\.'"),
    ("zo\u00eb\n".encode(), "has '\u00eb'"),
    (b"emma\n\xff\xfe\n", "not UTF-8"),
])
def test_bad_names_files_get_clear_errors(tmp_path, content, match):
    p = tmp_path / "names.txt"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match) as e:
        nn.read_names(p)
    assert str(p) in str(e.value)
    with pytest.raises(ValueError, match=match):
        nn.load_dataset(p)


def test_windows_line_endings_are_fine(tmp_path):
    p = tmp_path / "names.txt"
    p.write_bytes(b"emma\r\nava\r\n")
    assert nn.read_names(p) == ["emma", "ava"]


def test_many_bad_lines_are_summarised(tmp_path):
    p = tmp_path / "names.txt"
    p.write_text("".join(f"Name{i}\n" for i in range(100)))
    with pytest.raises(ValueError) as e:
        nn.read_names(p)
    assert "line 1 " in str(e.value) and "line 5 " in str(e.value) and "line 6 " not in str(e.value)


# ---------------------------------------------------------------------------------- where the file comes from
@pytest.fixture
def no_env(monkeypatch, tmp_path):
    for var in ("TINYTAPE_NAMES", "TINYTAPE_OFFLINE", "TINYTAPE_PROG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


def write(path, text="emma\nava\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CLOSED = "http://127.0.0.1:9/names.txt"       # the discard port: nothing listens, connection refused


def test_explicit_path_wins_over_env_and_cache(no_env, monkeypatch):
    given = write(no_env / "given.txt")
    monkeypatch.setenv("TINYTAPE_NAMES", str(write(no_env / "env.txt")))
    assert nn.names_path(given, url=CLOSED) == given


def test_missing_explicit_path_is_an_error_not_a_fallback(no_env, monkeypatch):
    monkeypatch.setenv("TINYTAPE_NAMES", str(write(no_env / "env.txt")))
    missing = no_env / "nope.txt"
    with pytest.raises(nn.NamesNotFoundError) as e:
        nn.names_path(missing, url=CLOSED)
    msg = str(e.value)
    assert str(missing) in msg and "does not exist" in msg
    assert isinstance(e.value, FileNotFoundError)
    # short lines, one way of giving the file a line: the Python call, the variable, the cache
    lines = msg.splitlines()
    assert lines[2:5] == ["  nn.load_dataset(PATH)", "  export TINYTAPE_NAMES=PATH",
                          f"  cp PATH {nn_data.shown(no_env / 'xdg' / 'tinytape' / 'names.txt')}"]
    assert max(len(ln) for ln in lines[1:]) <= 100 and lines[-1] == "The file: " + nn.NAMES_URL


def test_env_var_wins_over_cache(no_env, monkeypatch):
    env = write(no_env / "env.txt")
    monkeypatch.setenv("TINYTAPE_NAMES", str(env))
    write(no_env / "cache" / "names.txt")
    assert nn.names_path(cache_dir=no_env / "cache", url=CLOSED) == env


def test_env_var_pointing_nowhere_is_an_error(no_env, monkeypatch):
    monkeypatch.setenv("TINYTAPE_NAMES", str(no_env / "gone.txt"))
    with pytest.raises(nn.NamesNotFoundError, match=r"TINYTAPE_NAMES=.*gone\.txt does not point to a file"):
        nn.names_path(url=CLOSED)


@needs_names
def test_valid_cache_is_used_without_downloading(no_env):
    cached = no_env / "xdg" / "tinytape" / "names.txt"
    write(cached, NAMES.read_text())
    assert nn.names_path(url=CLOSED) == cached            # the default cache dir: $XDG_CACHE_HOME/tinytape
    assert len(nn.load_names(url=CLOSED)) == 32033


def test_no_file_anywhere_and_download_off(no_env):
    with pytest.raises(nn.NamesNotFoundError, match="was not found .* downloading is off") as e:
        nn.names_path(cache_dir=no_env / "c", download_ok=False)
    assert "TINYTAPE_NAMES" in str(e.value)


def test_corrupt_cache_is_reported_when_download_is_off(no_env):
    write(no_env / "c" / "names.txt", "emma\n")
    with pytest.raises(nn.NamesNotFoundError, match="corrupt"):
        nn.names_path(cache_dir=no_env / "c", download_ok=False)


def test_failed_download_says_how_to_provide_the_file(no_env):
    cache = no_env / "c"
    with pytest.raises(nn.NamesNotFoundError) as e:
        nn.names_path(cache_dir=cache, url=CLOSED, timeout=5, command="python -m nn.train --names PATH")
    msg = str(e.value)
    assert msg.startswith("names.txt was not found and could not be downloaded from " + CLOSED + "\n")
    assert "Connection refused" in msg.splitlines()[1]
    assert "\n  python -m nn.train --names PATH\n" in msg and "\n  export TINYTAPE_NAMES=PATH\n" in msg
    assert f"cp PATH {cache / 'names.txt'}" in msg
    assert list(cache.iterdir()) == []                    # nothing left behind


def test_tinytape_offline_never_downloads(no_env, server, monkeypatch):
    server.body = b"emma\n"
    monkeypatch.setenv("TINYTAPE_OFFLINE", "1")
    with pytest.raises(nn.NamesNotFoundError, match="was not found at .* and TINYTAPE_OFFLINE is set"):
        nn.names_path(cache_dir=no_env / "c", url=server.url)
    assert server.requests == 0
    assert nn_data.find_names(None, cache_dir=no_env / "c", url=server.url) is None      # the demos' fallback
    with pytest.raises(nn.NamesNotFoundError, match="does not exist"):                   # never for a given path
        nn_data.find_names(no_env / "nope.txt", cache_dir=no_env / "c", url=server.url)
    monkeypatch.setenv("TINYTAPE_OFFLINE", "0")
    with pytest.raises(nn.NamesNotFoundError, match="sha256 mismatch"):
        nn.names_path(cache_dir=no_env / "c", url=server.url)
    assert server.requests == 1


def test_the_suggested_command_is_the_one_the_user_ran(no_env, monkeypatch):
    assert nn_data.command("python -m nn.train", []) == "python -m nn.train --names PATH"
    assert nn_data.command("python -m nn.train", ["--quick", "--names", "x.txt", "--steps", "5"]) == \
        "python -m nn.train --quick --steps 5 --names PATH"
    assert nn_data.command("python -m demos.exercise1", ["--names=a b"]) == "python -m demos.exercise1 --names PATH"
    assert nn_data.command("python -m nn.train", ["--out", "my runs"], "--resume ckpt.npz") == \
        "python -m nn.train --out 'my runs' --resume ckpt.npz"
    monkeypatch.setenv("TINYTAPE_PROG", "make demo")          # what the Makefile sets for `make demo`
    assert nn_data.command("python -m nn.train", ["--quick"]) == 'make demo ARGS="--quick --names PATH"'
    assert nn_data.command("python -m nn.train", []) == 'make demo ARGS="--names PATH"'


class Server:
    """A local HTTP server whose response (status, body, declared length) each test sets."""

    def __init__(self):
        self.status, self.body, self.length = 200, b"", None
        self.requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests += 1
                self.send_response(server.status)
                self.send_header("Content-Length", str(server.length or len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/names.txt"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@needs_names
def test_download_into_the_cache_with_the_sha_checked(no_env, server):
    server.body = NAMES.read_bytes()
    path = nn.names_path(url=server.url)
    assert path == no_env / "xdg" / "tinytape" / "names.txt"
    assert path.read_bytes() == server.body
    assert sorted(p.name for p in path.parent.iterdir()) == ["names.txt"]
    assert nn.names_path(url=server.url) == path and server.requests == 1     # cached from now on


@needs_names
def test_corrupt_cache_is_replaced_by_a_good_download(no_env, server):
    cache = no_env / "c"
    write(cache / "names.txt", "emma\n")
    server.body = NAMES.read_bytes()
    assert nn.names_path(cache_dir=cache, url=server.url).read_bytes() == server.body


def test_sha_mismatch_leaves_no_file(no_env, server):
    cache = no_env / "c"
    server.body = b"emma\nolivia\n"
    with pytest.raises(nn.NamesNotFoundError) as e:
        nn.names_path(cache_dir=cache, url=server.url)
    msg = str(e.value)
    assert "sha256 mismatch" in msg and hashlib.sha256(server.body).hexdigest() in msg
    assert nn.NAMES_SHA256 in msg and "TINYTAPE_NAMES" in msg
    assert list(cache.iterdir()) == []


def test_sha_mismatch_keeps_the_previous_cached_copy(no_env, server):
    cache = no_env / "c"
    old = write(cache / "names.txt", "old\n")
    server.body = b"new\n"
    with pytest.raises(nn.NamesNotFoundError, match="sha256 mismatch"):
        nn.names_path(cache_dir=cache, url=server.url)
    assert old.read_text() == "old\n" and sorted(p.name for p in cache.iterdir()) == ["names.txt"]


def test_http_error_leaves_no_file(no_env, server):
    cache = no_env / "c"
    server.status, server.body = 404, b"not found"
    with pytest.raises(nn.NamesNotFoundError, match="HTTPError: HTTP Error 404"):
        nn.names_path(cache_dir=cache, url=server.url)
    assert list(cache.iterdir()) == []


def test_truncated_download_leaves_no_file(no_env, server):
    cache = no_env / "c"
    server.body, server.length = b"emma\nolivia\n", 1000          # the connection ends early
    with pytest.raises(nn.NamesNotFoundError, match="incomplete download: 12 of 1000 bytes"):
        nn.names_path(cache_dir=cache, url=server.url, timeout=5)
    assert list(cache.iterdir()) == []


def test_oversized_download_is_refused(no_env, server, monkeypatch):
    monkeypatch.setattr(nn_data, "MAX_DOWNLOAD", 10)
    cache = no_env / "c"
    server.body = b"a\n" * 100
    with pytest.raises(nn.NamesNotFoundError, match="more than 10 bytes"):
        nn.names_path(cache_dir=cache, url=server.url)
    assert list(cache.iterdir()) == []


def test_load_dataset_rejects_a_bad_block_size(tmp_path):
    with pytest.raises(ValueError, match="block_size must be at least 1"):
        nn.load_dataset(write(tmp_path / "n.txt"), block_size=0)
