"""OIM person-search detector (Xiao et al., CVPR 2017; qgn_qeeps.md §2).

Faster R-CNN C4 (ResNet conv1-res4 backbone, single-level RPN, RoIAlign,
res5 RoI head) with an identity branch trained by the OIM loss.
"""
from typing import Tuple

from mmdet.models.detectors import TwoStageDetector
from mmdet.structures import SampleList
from mmdet.utils import InstanceList
from torch import Tensor

from mmqgn.registry import MODELS
from ..utils import empty_boxes, is_query_sample


@MODELS.register_module()
class OIM(TwoStageDetector):
    """Two-stage person-search detector with gallery and query test modes.

    Training is mmdet's two-stage ``loss`` (the RoI head adds ``loss_oim``).
    ``predict`` runs the RPN on gallery images only; the RoI head returns,
    per image, ``pred_instances`` with bboxes (N, 4) in original pixels,
    scores (N,), labels (N,) and embeddings (N, D): detections for a gallery
    image, the given query box (N = 1) for a query image (metainfo
    ``is_query=True``). A batch may mix both kinds.

    Args: those of :class:`mmdet.models.TwoStageDetector`; ``roi_head``
    should be a :class:`PersonSearchRoIHead`.
    """

    def predict(self,
                batch_inputs: Tensor,
                batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Images (B, 3, H, W) -> data samples with ``pred_instances``."""
        x = self.extract_feat(batch_inputs)
        rpn_results_list = self.predict_proposals(x, batch_data_samples)
        results_list = self.roi_head.predict(
            x, rpn_results_list, batch_data_samples, rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results_list)

    def predict_proposals(self, x: Tuple[Tensor],
                          batch_data_samples: SampleList) -> InstanceList:
        """RPN proposals of the gallery images; no box for query images."""
        gallery = [
            i for i, ds in enumerate(batch_data_samples)
            if not is_query_sample(ds)
        ]
        results = [empty_boxes(x[0]) for _ in batch_data_samples]
        if gallery:
            feats = tuple(feat[gallery] for feat in x)
            samples = [batch_data_samples[i] for i in gallery]
            proposals = self.rpn_head.predict(feats, samples, rescale=False)
            for i, res in zip(gallery, proposals):
                results[i] = res
        return results
