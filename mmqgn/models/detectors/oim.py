"""OIM person-search detector (Xiao et al., CVPR 2017; qgn_qeeps.md §2).

Faster R-CNN C4 (ResNet conv1-res4 backbone, single-level RPN, RoIAlign,
res5 RoI head) with an identity branch trained by the OIM loss.
"""
from mmqgn.registry import MODELS
from .base import PersonSearchDetector


@MODELS.register_module()
@MODELS.register_module('OIMWithGFN')  # before the GFN became an option
class OIM(PersonSearchDetector):
    """Two-stage person-search detector with gallery and query test modes.

    Training is the two-stage loss (the RoI head adds ``loss_oim``; a GFN,
    if configured, ``loss_gfn``). ``predict`` runs the RPN on gallery images
    only; the RoI head returns, per image, ``pred_instances`` with bboxes
    (N, 4) in original pixels, scores (N,), labels (N,) and embeddings
    (N, D): detections for a gallery image, the given query box (N = 1) for
    a query image (metainfo ``is_query=True``). A batch may mix both kinds.

    Args: those of :class:`PersonSearchDetector`; ``roi_head`` should be a
    :class:`PersonSearchRoIHead`.
    """
