"""nn: torch.nn-shaped layers on tinytape, and the lecture's batchnorm MLP trained on names.txt.

    import numpy as np
    import nn

    data = nn.load_dataset()                       # names.txt: path argument, $TINYTAPE_NAMES, cache, download
    model = nn.MLP(n_hidden=200, generator=np.random.default_rng(2147483647))
    hist = nn.fit(model, data.Xtr, data.Ytr, steps=200_000, generator=np.random.default_rng(0), progress=True)
    nn.calibrate(model, data.Xtr)                  # the lecture's batchnorm calibration
    print(nn.split_losses(model, data))            # {'train': ..., 'val': ..., 'test': ...}
    print(nn.sample(model, 20, generator=np.random.default_rng(1)))
    model.save("mlp.npz"); model = nn.MLP.from_file("mlp.npz")
    nn.fit(model, X, Y, 200_000, generator=rng, checkpoint="ckpt.npz")   # Ctrl-C: saved, TrainingInterrupted
    nn.fit(model, X, Y, 200_000, generator=rng, resume="ckpt.npz")       # goes on, to the same bits

Or from the shell: python -m nn.train --steps 200000 --out out/   (Ctrl-C, then --resume out/checkpoint.npz)

Files: modules.py (Module and the layers), model.py (the lecture's MLP and its init), data.py
(names.txt, vocabulary, dataset, split), optim.py (SGD), training.py (training loop, calibration,
split losses, sampling, loss plot), checkpoint.py (atomic .npz save and load, training checkpoints),
train.py (the command).
Imports tinytape and numpy only; matplotlib only inside plot_losses.
"""
from .checkpoint import Checkpoint, load_arrays, load_checkpoint, save_arrays, save_checkpoint
from .data import (CHARS, ENV_VAR, NAMES_SHA256, NAMES_URL, Dataset, NamesNotFoundError,
                   build_dataset, decode, encode, itos, load_dataset, load_names, names_path,
                   read_names, split_words, stoi, vocab_size)
from .model import LECTURE_NAMES, MLP, lecture_init
from .modules import (BatchNorm1d, Embedding, Flatten, Linear, Module, Parameter, Sequential,
                      Tanh)
from .optim import SGD
from .training import (History, ProgressBar, TrainingInterrupted, calibrate, evaluate, fit, lecture_lr,
                       plot_losses, sample, split_losses)

# The training function is nn.fit, not nn.train: nn.train is the command's module
# (python -m nn.train), and importing it would rebind the package attribute of that name.
