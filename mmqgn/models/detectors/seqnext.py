"""SeqNeXt person-search detector (Jaffe & Zakhor, WACV 2023; gfn_seqnext.md
§1-2), with the Gallery Filter Network as an option (``gfn=dict(...)``).

A single-scale C4 Faster R-CNN: a stride-16 backbone ("conv1-4", ConvNeXt
or ResNet), one-level RPN, and the two sequential RoI stages of
:class:`SeqNeXtRoIHead` (stage 2 shares its conv5 features with the OIM
embedding head). Training loss ``L_det + L_reid`` (§2.8), plus ``loss_gfn``
with a GFN (the full SeqNeXt+GFN model of the paper).
"""
from mmqgn.registry import MODELS
from .oim import OIM


@MODELS.register_module()
@MODELS.register_module('SeqNeXtWithGFN')  # before the GFN became an option
class SeqNeXt(OIM):
    """SeqNeXt: the OIM detector's interface with sequential RoI stages.

    Training: ``loss_rpn_cls``, ``loss_rpn_bbox``, then the RoI head's
    ``loss_prop_cls``, ``loss_prop_bbox``, ``prop_acc`` (stage 1),
    ``loss_cls``, ``loss_bbox``, ``acc`` (stage 2) and ``loss_oim``.
    ``predict`` as :class:`OIM`: per image ``pred_instances`` with bboxes
    (N, 4) in original pixels, stage-2 scores (N,), labels (N,) and
    embeddings (N, D), score-weighted (CWS) for gallery images; the query box
    with its unit-norm embedding for query images (metainfo
    ``is_query=True``).

    Args: those of :class:`PersonSearchDetector`; ``roi_head`` should be a
    :class:`SeqNeXtRoIHead`.
    """
