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
        if getattr(model, 'gfn', None) is None:
            return
        roi_head = model.roi_head
        for src, dst in ((roi_head.shared_head, model.gfn.scene_head),
                         (roi_head.reid_head, model.gfn.emb_head)):
            own = dst.state_dict()
            state = {k: v for k, v in src.state_dict().items()
                     if k in own and own[k].shape == v.shape}
            dst.load_state_dict(state, strict=False)
            runner.logger.info(
                f'GFN: {len(state)}/{len(own)} tensors of '
                f'{type(dst).__name__} copied from the loaded detector head')
