"""Loading MMEngine Runner checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. MMEngine
0.10.7 calls ``torch.load`` without the argument, and its Runner checkpoints
hold more than tensors: the message hub's ``HistoryBuffer`` objects, pickled
with bound methods (``getattr(HistoryBuffer, 'min')``), and numpy arrays. So
``load_from`` and ``resume`` fail with an ``UnpicklingError``. Allow-listing
``getattr`` would make the weights-only unpickler unsafe again, so instead
mmqgn registers a loader for local files that restores the behaviour
MMEngine was written for (``weights_only=False``), exactly as with
torch < 2.6. As with any pickle, only load checkpoints you trust.
"""
import os.path as osp

import torch
from mmengine.runner import CheckpointLoader


def load_from_local(filename: str, map_location=None) -> dict:
    """Load a local checkpoint written by ``torch.save`` / MMEngine."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return torch.load(filename, map_location=map_location, weights_only=False)


def register_checkpoint_loader() -> None:
    """Make MMEngine load local checkpoints with :func:`load_from_local`."""
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
