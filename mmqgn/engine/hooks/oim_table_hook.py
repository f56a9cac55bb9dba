"""Size the OIM lookup tables from the training annotations.

gfn_seqnext.md §8.2 decision 21: the LUT size is the number of distinct known
person ids of the training partition, never hard-coded (PRW: 483 in the
standardized data, 482 in NAE4PS/SeqNet's). The converters record it as
``info.num_known_ids`` of each annotation file, and
:class:`~mmqgn.datasets.PersonSearchDataset` checks it against the
annotations and exposes it as ``metainfo['num_person_ids']``.

The Runner builds (and DDP-wraps) the model in ``__init__``, before any
dataset exists, and builds the training dataloader in ``train()`` before
``before_run``; it loads ``load_from`` / resume checkpoints after
``before_run`` and before ``before_train``. So an ``OIMLoss`` with
``num_person_ids=None`` starts with an empty (0, D) table, a loaded
checkpoint gives it the checkpoint's size (``OIMLoss._load_from_state_dict``)
and this hook, in ``before_train``, sizes it from the training set or checks
the loaded size against it. Resizing replaces the buffer's ``.data`` (the
tensor object stays, for wrappers that hold references to the buffers; torch's
DDP also re-reads them before each buffer broadcast), and the table is then
written by ``OIMLoss.update`` with features gathered over all ranks, so every
rank holds the same one (tested with two gloo processes).
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmqgn.models.losses import OIMLoss
from mmqgn.registry import HOOKS


@HOOKS.register_module()
class OIMTableSizeHook(Hook):
    """Before training: every ``OIMLoss`` of the model gets (or is checked
    against) ``num_person_ids`` of the training dataset's metainfo.

    Raises:
        ValueError: the training dataset exposes no ``num_person_ids``, or a
            table's size disagrees with it (see
            :meth:`OIMLoss.set_num_person_ids`).
    """
    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        losses = [m for m in model.modules() if isinstance(m, OIMLoss)]
        if not losses:
            return
        dataset = runner.train_dataloader.dataset
        dataset.full_init()  # no-op unless built with lazy_init=True
        num = dataset.metainfo.get('num_person_ids')
        if num is None:
            raise ValueError(
                'OIMTableSizeHook: the training dataset '
                f'({type(dataset).__name__}) exposes no '
                "metainfo['num_person_ids']; use a PersonSearchDataset on "
                'a converted annotation file, or give '
                'loss_reid.num_person_ids in the config and remove the hook')
        source = ('the training annotations (info.num_known_ids, '
                  f'{type(dataset).__name__})')
        for loss in losses:
            loss.set_num_person_ids(int(num), source)
            runner.logger.info(
                f'OIM lookup table: {loss.num_person_ids} rows for the {num} '
                'known identities of the training set')
