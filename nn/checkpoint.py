"""Named numpy arrays to and from an .npz file, and training checkpoints built on them.

Writes are atomic: the arrays go to a temporary file in the target's directory, which replaces
the target (os.replace) only once it is complete and on disk (the file and then its directory are
fsynced), so an interrupted save never leaves a truncated file where a good one was. Reads turn
every way a file can be unreadable (not a zip, truncated, pickled objects) into one ValueError that
names the file.

A checkpoint (save_checkpoint / load_checkpoint) is such a file holding everything a training run
needs to go on exactly where it stopped: the model's parameters and buffers, the number of steps
done, the state of the generator that draws the minibatches, the loss history, and the run's
settings (fit's, the model's sizes, a fingerprint of the data; the command adds its arguments).
"""
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMAT = 1                      # the checkpoint layout; a file of another version is refused


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
    _fsync_dir(path.parent)                                 # the rename itself survives a power cut
    return path


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:                                         # (not possible on every platform)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


# ---------------------------------------------------------------------------------- checkpoints
@dataclass
class Checkpoint:
    """A training run stopped after `step` of `steps` steps (see nn.fit's checkpoint= and resume=)."""
    step: int
    steps: int
    state: dict                                # the model's state_dict: name -> array
    rng_state: dict                            # numpy bit generator state of the minibatch generator
    losses: np.ndarray                         # the losses of steps 0 .. step-1
    config: dict = field(default_factory=dict)  # fit's settings, the model's, the data's fingerprint, ...


def save_checkpoint(path, ckpt):
    """Write a Checkpoint atomically (the previous file at `path` stays whole until the new one is)."""
    arrays = {f"model/{k}": np.asarray(v) for k, v in ckpt.state.items()}
    arrays["losses"] = np.asarray(ckpt.losses, dtype=np.float64)
    meta = {"format": FORMAT, "step": int(ckpt.step), "steps": int(ckpt.steps), "rng_state": ckpt.rng_state,
            "config": ckpt.config}
    arrays["meta"] = np.array(json.dumps(meta))             # a string array: no pickles
    return save_arrays(path, arrays)


def load_checkpoint(path):
    """A Checkpoint from a file written by save_checkpoint; ValueError naming the file and the problem
    for anything else (a parameter file, another format version, a damaged or inconsistent file)."""
    arrays = load_arrays(path)
    if "meta" not in arrays:
        raise ValueError(f"{path} is not a training checkpoint (it holds {sorted(arrays)[:4]}...): a parameter "
                         f"file from model.save() loads with model.load() or nn.MLP.from_file()")
    try:
        meta = json.loads(str(arrays["meta"]))
        version, step, steps = meta["format"], meta["step"], meta["steps"]
        rng_state, config = meta["rng_state"], meta["config"]
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: the checkpoint's description is damaged ({type(e).__name__}: {e})") from None
    if version != FORMAT:
        raise ValueError(f"{path} is a checkpoint of format {version}; this version of nn reads format {FORMAT}")
    losses = arrays.get("losses")
    if not (isinstance(step, int) and isinstance(steps, int) and 0 <= step <= steps) or losses is None \
            or losses.shape != (step,):
        raise ValueError(f"{path}: inconsistent checkpoint (step {step!r} of {steps!r}, "
                         f"{None if losses is None else losses.shape[0]} losses)")
    state = {k[len("model/"):]: v for k, v in arrays.items() if k.startswith("model/")}
    return Checkpoint(step, steps, state, rng_state, losses, config)
