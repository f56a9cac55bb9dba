"""A small, deterministic, learnable synthetic person-search dataset.

:func:`make_synthetic_dataset` writes two datasets under ``out_dir`` in the
*raw release layouts* of CUHK-SYSU and PRW (``docs/data_format.md`` section 1),
so that the dataset converters can be exercised and a model trained end to end
on CPU in minutes:

``CUHK-SYSU/``
    ``Image/SSM/s<k>.jpg``; ``annotation/Images.mat`` (every box, labelled and
    unlabelled), ``annotation/pool.mat`` (test image names),
    ``annotation/test/train_test/Train.mat`` and ``TestG{50,...,4000}.mat``
    (one query per test identity; each gallery lists the images holding the
    person first, then distractors with a 1 x 0 ``idlocate``, in all
    ``min(G, number of test images - 1)`` images) and
    ``annotation/test/subset/{Occlusion,Resolution}.mat`` (queries whose
    query box is partly hidden / the smallest query boxes; galleries of
    ``min(100, ...)`` images).
``PRW/``
    ``frames/c<cam>s<seq>_<frame:06d>.jpg`` from 6 static cameras (one fixed
    background and colour cast per camera; per camera the sequence and frame
    numbers increase), ``annotations/<frame>.jpg.mat`` (``N x 5``
    ``[pid, x, y, w, h]``, pid -2 for unlabelled people, stored under the keys
    ``box_new``, ``anno_file`` or ``anno_previous``), ``frame_train.mat``,
    ``frame_test.mat`` and ``query_info.txt`` (one query per test identity and
    camera it appears in; CRLF line ends as in the release).

Every scene is a cluttered background (gradient sky and ground, buildings with
windows, lines, texture noise; muted, low-saturation colours) with 2-4 people
drawn with cv2 primitives. Each identity has a fixed look: torso and leg
colours from a well-separated palette (a unique pair per identity), a torso
pattern (solid, horizontal / vertical stripes, checks) with its own second
colour, sleeves, skin, hair, hat, backpack or handbag, and body shape. Pose
(legs, arms, facing), size (35-85 % of the image height), position, small
colour jitter, partial occlusion by scene objects and the scene / camera
lighting vary per appearance. Unlabelled people get random looks whose colour
pair belongs to no identity. Boxes ``[x, y, w, h]`` (integer valued) tightly
bound the drawn person, accessories included, also where the person is
occluded. Train and test identities are disjoint; every identity appears in
several scenes (and PRW cameras).

Scene context (``group_places=N >= 1``, CUHK-SYSU layout): by default every
scene has its own random background, so a scene says nothing about who is in
it. With ``N`` places per identity group, each group of identities (the
people who share scenes) is seen at ``N`` fixed places of its own, the way
real CUHK-SYSU and PRW people recur at the same street or camera: a scene
shows a random window of its place's panorama (a camera pan) under its own
lighting. This is what the Gallery Filter Network learns from
(``gfn_seqnext.md`` section 3). PRW frames already share each camera's
background; ``group_places`` does not change PRW.

All randomness comes from ``numpy.random.default_rng(seed)`` and generators
derived from it, so a seed fixes annotations and pixels.

Modules: :mod:`.appearance` (identity looks, poses), :mod:`.person` (drawing
one person), :mod:`.scene` (backgrounds, lighting, placing and occluding
people), :mod:`.layout` (which identities each scene shows, statistics),
:mod:`.writers` (JPEG and MATLAB helpers), :mod:`.cuhk_sysu` and :mod:`.prw`
(the two release layouts); this module holds the size options and
:func:`make_synthetic_dataset`.
"""
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np

from .appearance import (HAIR, PALETTE, PATTERNS, SHOES, SKIN,
                         sample_appearance, sample_distractor,
                         sample_identities, sample_pose)
from .cuhk_sysu import (CUHK_GALLERY_SIZES, SUBSET_GALLERY_SIZE,
                        cuhk_queries, cuhk_subsets, make_cuhk_sysu)
from .layout import (MIN_APPEARANCES, appearances, dataset_stats, plan_split,
                     split_stats)
from .person import render_person
from .prw import PRW_FRAMES_PER_SEQ, PRW_KEYS, make_prw, prw_frame_names, \
    prw_queries
from .scene import (MAX_OVERLAP, OCCLUDED_BELOW, OCCLUSION_PROB,
                    PLACE_PANORAMA, make_background, place_background,
                    render_planned, render_scene, sample_heights,
                    sample_lighting)
from .writers import JPEG_QUALITY, Progress

DEFAULT_SIZES = dict(
    img_width=256,
    img_height=192,
    cuhk_train_ids=30,
    cuhk_test_ids=30,
    cuhk_train_scenes=100,
    cuhk_test_scenes=100,
    prw_train_ids=30,
    prw_test_ids=15,
    prw_train_frames=100,
    prw_test_frames=60,
    prw_cameras=6,
    min_people=2,
    max_people=4,
    max_unlabeled=2,
    id_group_size=5,
    group_places=0,
)
OPTIONAL_SIZES = ('max_unlabeled', 'group_places')  # may be 0
DATASETS = ('CUHK-SYSU', 'PRW')

__all__ = [
    'make_synthetic_dataset', 'check_sizes', 'child_rng', 'DEFAULT_SIZES',
    'OPTIONAL_SIZES', 'DATASETS', 'Progress', 'JPEG_QUALITY',
    'CUHK_GALLERY_SIZES', 'SUBSET_GALLERY_SIZE', 'MIN_APPEARANCES',
    'PRW_KEYS', 'PRW_FRAMES_PER_SEQ', 'OCCLUSION_PROB', 'OCCLUDED_BELOW',
    'MAX_OVERLAP', 'PLACE_PANORAMA', 'PALETTE', 'SKIN', 'HAIR', 'SHOES',
    'PATTERNS', 'sample_appearance', 'sample_identities',
    'sample_distractor', 'sample_pose', 'render_person', 'make_background',
    'place_background', 'sample_lighting', 'render_scene', 'sample_heights',
    'render_planned', 'plan_split', 'appearances', 'split_stats',
    'dataset_stats', 'cuhk_queries', 'cuhk_subsets', 'make_cuhk_sysu',
    'prw_frame_names', 'prw_queries', 'make_prw'
]


def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """An independent generator seeded from ``rng``."""
    return np.random.default_rng(int(rng.integers(2**63)))


def check_sizes(sizes: dict):
    """Reject size options that cannot make a valid dataset."""
    bad = [k for k, v in sizes.items()
           if int(v) != v or v < (0 if k in OPTIONAL_SIZES else 1)]
    if bad:
        raise ValueError(f'size options must be positive integers: {bad}')
    if sizes['min_people'] > sizes['max_people']:
        raise ValueError('min_people must not exceed max_people')
    if sizes['img_height'] < 48 or sizes['img_width'] < sizes['img_height']:
        raise ValueError('images must be landscape, at least 48 px high')
    if min(sizes['cuhk_test_scenes'], sizes['prw_test_frames']) < 2:
        raise ValueError('the test splits need at least 2 images')
    if sizes['prw_cameras'] > 9:
        raise ValueError('PRW camera ids are one digit: prw_cameras <= 9')


def make_synthetic_dataset(out_dir: str,
                           seed: int = 0,
                           datasets: Sequence[str] = DATASETS,
                           progress: Optional[Progress] = None,
                           **sizes) -> Dict[str, dict]:
    """Write synthetic CUHK-SYSU and/or PRW raw releases under ``out_dir``.

    Args:
        out_dir: Output folder; gets ``CUHK-SYSU/`` and ``PRW/``.
        seed: Seed of all randomness (same seed, same files).
        datasets: Which of ``('CUHK-SYSU', 'PRW')`` to write. Each dataset's
            content does not depend on whether the other one is written.
        progress: Optional ``progress(iterable, total, name) -> iterable``
            wrapper around the image-writing loop of each dataset (``name``
            is the dataset's), e.g. to show a progress bar.
        **sizes: Overrides of :data:`DEFAULT_SIZES`.

    Returns:
        ``{dataset name: statistics}``; the statistics hold totals (images,
        boxes, known_boxes, unlabeled_boxes, occluded_boxes, identities),
        the same per split with ``train_`` / ``test_`` prefixes, and queries.
    """
    unknown = set(sizes) - set(DEFAULT_SIZES) | set(datasets) - set(DATASETS)
    if unknown:
        raise ValueError(f'unknown options or datasets: {sorted(unknown)}')
    sizes = {**DEFAULT_SIZES, **sizes}
    check_sizes(sizes)
    rng = np.random.default_rng(seed)
    rngs = dict(zip(DATASETS, (child_rng(rng), child_rng(rng))))
    makers = {'CUHK-SYSU': make_cuhk_sysu, 'PRW': make_prw}
    return {
        name: makers[name](osp.join(out_dir, name), rngs[name], sizes,
                           progress)
        for name in DATASETS if name in datasets
    }
