"""Named numpy arrays to and from an .npz file.

Writes are atomic: the arrays go to a temporary file in the target's directory, which replaces
the target (os.replace) only once it is complete, so an interrupted save never leaves a truncated
file where a good one was. Reads turn every way a file can be unreadable (not a zip, truncated,
pickled objects) into one ValueError that names the file.
"""
import os
import uuid
from pathlib import Path

import numpy as np


def save_arrays(path, arrays):
    """Write {name: array} to `path` (an .npz archive; the name is used exactly as given)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: directory {path.parent} does not exist")
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def load_arrays(path):
    """{name: array} from an .npz written by save_arrays (no pickled objects are ever loaded)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no parameter file at {path}")
    try:
        z = np.load(path, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array, not an .npz archive of named arrays")
        with z:
            return {k: z[k] for k in z.files}
    except Exception as e:                                  # BadZipFile, EOFError, OSError, ...
        raise ValueError(f"{path} is not a readable .npz parameter file "
                         f"({type(e).__name__}: {e})") from None
