import random

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_rank
from mmengine.hooks import Hook

from mmqgn.registry import HOOKS


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save and restore the random number generators with checkpoints.

    MMEngine restores weights, optimizer, schedulers and the message hub on
    ``resume`` but re-seeds the generators, so the anchor / RoI samplers and
    the augmentations of a resumed run draw different numbers than the
    uninterrupted run. This hook stores the python, numpy and torch (CPU and
    CUDA) states of every rank in the checkpoint and puts them back when it
    is resumed, so an epoch-based run resumed from a checkpoint continues
    exactly as if it had never stopped (with data workers, MMEngine seeds
    each worker deterministically). Iteration-based loops skip the already
    trained batches by loading them again, which draws augmentation numbers
    after the restore; their resumed runs match only without random
    augmentation.
    """
    # Before CheckpointHook (VERY_LOW), which saves in the same stages; the
    # states are gathered on every rank there because only rank 0 calls
    # ``before_save_checkpoint``.
    priority = 'LOW'

    def __init__(self) -> None:
        self._states = None

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self._states = all_gather_object(_rng_state())

    def after_train_epoch(self, runner) -> None:
        self._states = all_gather_object(_rng_state())

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint['rng_states'] = self._states or [_rng_state()]

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        if states and runner._resume and get_rank() < len(states):
            _set_rng_state(states[get_rank()])


def _rng_state() -> dict:
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state['cuda'])
