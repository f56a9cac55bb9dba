from mmengine.hooks import Hook

from mmqgn.datasets import PersonSearchPairDataset
from mmqgn.registry import HOOKS


def _unwrap(dataset):
    """The datasets inside mmengine dataset wrappers (Concat/Repeat/...)."""
    if hasattr(dataset, 'datasets'):
        return [d for sub in dataset.datasets for d in _unwrap(sub)]
    if hasattr(dataset, 'dataset'):
        return _unwrap(dataset.dataset)
    return [dataset]


@HOOKS.register_module()
class PairResampleHook(Hook):
    """Calls ``set_epoch(runner.epoch)`` on the training pair datasets before
    every epoch (PRW: 3 galleries per query re-drawn each epoch, T4).

    The draw depends on ``(seed, epoch)`` only, so a resumed run gets the
    pairs of the uninterrupted one. Persistent dataloader workers hold a
    copy of the dataset: when the pairs change, the loader's iterator is
    dropped so that its workers restart with the new pairs (as mmdet's
    ``PipelineSwitchHook`` does).
    """

    priority = 'NORMAL'

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_loop.dataloader
        changed = False
        for ds in _unwrap(loader.dataset):
            if isinstance(ds, PersonSearchPairDataset):
                changed |= ds.set_epoch(runner.epoch)
        if changed and getattr(loader, 'persistent_workers', False):
            loader._iterator = None
