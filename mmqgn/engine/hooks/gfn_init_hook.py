from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from mmqgn.registry import HOOKS


@HOOKS.register_module()
class GFNHeadsFromDetectorHook(Hook):
    """Start the GFN's scene and embedding heads from the detector's heads
    after ``load_from`` (gfn_seqnext.md §3.2).

    In SeqNeXt the GFN's conv5 head and embedding head are copies of the
    person branch made from the same (ImageNet) weights. When a GFN model is
    fine-tuned from a checkpoint without a GFN (e.g. QGN+GFN from the OIM of
    stage 1, qgn_qeeps.md §8.2), the GFN keys are missing from it and the
    copies would keep their random start; this hook copies
    ``roi_head.shared_head`` -> ``gfn.scene_head`` and ``roi_head.reid_head``
    (without the OIM lookup table) -> ``gfn.emb_head`` once, before the
    first iteration of a run that loaded weights. Resumed runs are left
    alone (their checkpoint holds the trained GFN).
    """
    priority = 'NORMAL'

    def before_train(self, runner) -> None:
        if runner._resume or not runner._load_from:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        if not model.with_gfn:
            return
        copied = model.copy_person_heads_to_gfn()
        runner.logger.info(f'GFN: {copied} tensors of the scene and '
                           'embedding heads copied from the loaded detector '
                           'heads')
