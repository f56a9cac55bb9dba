"""The synthetic PRW release (``frames/``, ``annotations/``, frame lists,
``query_info.txt``).

Frames come from static cameras (one fixed background and colour cast per
camera; per camera the sequence and frame numbers increase); one query per
test identity and camera it appears in (docs/data_format.md section 1).
"""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from .appearance import sample_identities
from .layout import MIN_APPEARANCES, appearances, dataset_stats, plan_split
from .scene import make_background, render_planned, sample_lighting
from .writers import Progress, mat_cell, render_all, save_mat, write_jpeg

# PRW annotation keys, cycled over the sorted frames (mostly 'box_new').
PRW_KEYS = ('box_new', 'box_new', 'anno_file', 'box_new', 'anno_previous')
PRW_FRAMES_PER_SEQ = 12


def prw_frame_names(rng: np.random.Generator, cams: Sequence[int]) -> list:
    """Frame names; per camera, sequence / frame numbers grow with order."""
    state, names = {}, []
    for cam in cams:
        seq, frame, count = state.get(cam, (1, 0, 0))
        if count and count % PRW_FRAMES_PER_SEQ == 0:
            seq, frame = seq + 1, 0
        frame += int(rng.integers(30, 1500))
        state[cam] = (seq, frame, count + 1)
        names.append(f'c{cam}s{seq}_{frame:06d}')
    return names


def prw_queries(rng: np.random.Generator, test: List[dict],
                pids: Sequence[int]) -> list:
    """One query per test identity and camera: (pid, box, frame) sorted."""
    lines = []
    for k, apps in sorted(appearances(test).items()):
        by_cam = {}
        for r, p in apps:
            by_cam.setdefault(test[r]['cam'], []).append((r, p))
        for cam in sorted(by_cam):
            r, p = by_cam[cam][int(rng.integers(len(by_cam[cam])))]
            lines.append((int(pids[k]), p['box'], test[r]['name']))
    return sorted(lines, key=lambda line: (line[0], line[2]))


def _prw_annotations(root: str, records: List[dict], pids: Sequence[int]):
    for i, rec in enumerate(sorted(records, key=lambda r: r['name'])):
        rows = [[pids[p['id']] if p['id'] >= 0 else -2, *p['box']]
                for p in rec['people']]
        save_mat(osp.join(root, 'annotations', rec['name'] + '.jpg.mat'),
                 PRW_KEYS[i % len(PRW_KEYS)],
                 np.array(rows, dtype=np.float64).reshape(-1, 5))


def _prw_lists(root: str, train: List[dict], test: List[dict],
               queries: list):
    for key, recs in (('train', train), ('test', test)):
        save_mat(osp.join(root, f'frame_{key}.mat'), f'img_index_{key}',
                 mat_cell(sorted(rec['name'] for rec in recs)))
    with open(osp.join(root, 'query_info.txt'), 'w', newline='') as f:
        for pid, (x, y, w, h), frame in queries:
            f.write(f'{pid} {x} {y} {w} {h} {frame}\r\n')


def _prw_cameras(rng: np.random.Generator, sizes: dict) -> dict:
    """Per camera: a fixed background and lighting."""
    return {
        cam: (make_background(rng, sizes['img_width'], sizes['img_height']),
              sample_lighting(rng))
        for cam in range(1, sizes['prw_cameras'] + 1)
    }


def make_prw(root: str, rng: np.random.Generator, sizes: dict,
             progress: Optional[Progress] = None) -> dict:
    """Write the PRW layout under ``root``; returns statistics."""
    n_train, n_test = sizes['prw_train_ids'], sizes['prw_test_ids']
    identities = sample_identities(rng, n_train + n_test)
    pids = rng.permutation(n_train + n_test) + 1
    need = MIN_APPEARANCES['PRW']
    train = plan_split(rng, sizes['prw_train_frames'], range(n_train), need,
                       sizes)
    test = plan_split(rng, sizes['prw_test_frames'],
                      range(n_train, n_train + n_test), need, sizes)
    timeline = [(train + test)[i] for i in rng.permutation(len(train + test))]
    cams = [i % sizes['prw_cameras'] + 1 for i in range(len(timeline))]
    for rec, cam, name in zip(timeline, cams, prw_frame_names(rng, cams)):
        rec['cam'], rec['name'] = cam, name
    cameras = _prw_cameras(rng, sizes)

    def render(rec):
        r = np.random.default_rng(rec['seed'])
        bg, (gain, offset) = cameras[rec['cam']]
        lighting = (gain * r.uniform(0.95, 1.05), offset)
        return render_planned(r, rec, identities, bg, lighting)

    def write(rec, img):
        write_jpeg(osp.join(root, 'frames', rec['name'] + '.jpg'), img)

    render_all(sorted(timeline, key=lambda r: r['name']), render, write,
               progress, 'PRW')
    _prw_annotations(root, train + test, pids)
    queries = prw_queries(rng, test, pids)
    _prw_lists(root, train, test, queries)
    stats = dataset_stats(train, test, len(queries))
    stats['cameras'] = sizes['prw_cameras']
    return stats
