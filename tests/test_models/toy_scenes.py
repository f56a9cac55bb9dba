"""Two tiny synthetic scenes shared by the detector tests.

Boxes are (x1, y1, x2, y2) in resized pixels (the network input is H x W,
the original image is 1 / SCALE times larger), with an OIM label and a body
colour; person 0 (red) appears in both scenes.
"""
import torch
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import HorizontalBoxes
from mmengine.structures import InstanceData

H, W = 160, 192
SCALE = 0.5
SCENES = [
    [((16, 20, 56, 140), 0, (220, 40, 40)),
     ((110, 30, 150, 150), -1, (40, 200, 60))],
    [((70, 15, 112, 145), 1, (40, 60, 220)),
     ((140, 35, 178, 150), 0, (220, 40, 40))],
]


def toy_image(scene, seed=0):
    """A (3, H, W) image with one coloured body and head per person."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, H, W, generator=g) * 60 + 80
    for (x1, y1, x2, y2), _, colour in scene:
        img[:, y1:y2, x1:x2] = torch.tensor(colour, dtype=torch.float).view(
            3, 1, 1)
        img[:, y1:y1 + 12, x1 + 10:x2 - 10] = 200.0  # a "head"
    return img


def toy_sample(scene, is_query=False, hbox=False):
    """A data sample as the data preprocessor hands it to the model (boxes
    as tensors; ``hbox=True``: HorizontalBoxes, as the pipeline packs them).
    """
    ds = DetDataSample(
        metainfo=dict(
            img_id=7,
            img_shape=(H, W),
            ori_shape=(int(H / SCALE), int(W / SCALE)),
            pad_shape=(H, W),
            batch_input_shape=(H, W),
            scale_factor=(SCALE, SCALE),
            is_query=is_query,
            query_ann_id=11 if is_query else -1))
    boxes = torch.tensor([b for b, _, _ in scene], dtype=torch.float)
    labels = torch.tensor([pl for _, pl, _ in scene])
    ds.gt_instances = InstanceData(
        bboxes=HorizontalBoxes(boxes) if hbox else boxes,
        labels=torch.zeros(len(scene), dtype=torch.long),
        person_labels=labels,
        person_ids=labels + 100 * (labels >= 0))
    return ds


def toy_batch():
    """Normalised (2, 3, H, W) inputs and the two scenes' samples."""
    inputs = torch.stack([toy_image(s, i) for i, s in enumerate(SCENES)])
    return (inputs - 110.0) / 40.0, [toy_sample(s) for s in SCENES]
