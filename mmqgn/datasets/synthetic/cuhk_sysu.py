"""The synthetic CUHK-SYSU release (``Image/SSM``, ``annotation/*.mat``).

One query per test identity; each ``TestG<G>.mat`` gallery lists the images
holding the person first, then distractors, in all ``min(G, number of test
images - 1)`` images; the subsets ``Occlusion.mat`` / ``Resolution.mat`` hold
the partly hidden / smallest query boxes with galleries of ``min(100, ...)``
images (docs/data_format.md section 1).
"""
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np

from .appearance import sample_identities
from .layout import MIN_APPEARANCES, appearances, dataset_stats, plan_split
from .scene import (OCCLUDED_BELOW, make_background, place_background,
                    render_planned, sample_lighting)
from .writers import (Progress, mat_cell, mat_double, mat_hard, mat_structs,
                      render_all, save_mat, write_jpeg)

CUHK_GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000)
SUBSET_GALLERY_SIZE = 100


def _cuhk_images_mat(root: str, records: List[dict]):
    rows = [(rec['name'], mat_double(len(rec['people'])),
             mat_structs([(mat_double(p['box']), mat_hard(p))
                          for p in rec['people']], ('idlocate', 'ishard')))
            for rec in records]
    save_mat(osp.join(root, 'annotation', 'Images.mat'), 'Img',
             mat_structs(rows, ('imname', 'nAppear', 'box')))


def _cuhk_train_mat(root: str, train: List[dict], n_ids: int):
    found = appearances(train)
    cells = []
    for k in range(n_ids):
        scene = mat_structs([(train[r]['name'], mat_double(p['box']),
                              mat_hard(p)) for r, p in found[k]],
                            ('imname', 'idlocate', 'ishard'))
        cells.append(mat_structs([(f'p{k + 1}', mat_double(len(found[k])),
                                   scene)], ('idname', 'nAppear', 'scene')))
    save_mat(osp.join(root, 'annotation', 'test', 'train_test', 'Train.mat'),
             'Train', mat_cell(cells))


def cuhk_queries(rng: np.random.Generator, test: List[dict],
                 ids: Sequence[int]) -> List[dict]:
    """One query per test identity with its full ordered gallery.

    The gallery lists the other images holding the person (with the
    person's annotation), then every remaining test image in random order
    (person ``None``).
    """
    found = appearances(test)
    queries = []
    for k in ids:
        apps = found[k]
        q = int(rng.integers(len(apps)))
        holding = {r for r, _ in apps}
        others = [r for r in rng.permutation(len(test)) if r not in holding]
        gallery = [(r, p) for i, (r, p) in enumerate(apps) if i != q]
        gallery += [(int(r), None) for r in others]
        queries.append(dict(id=k, rec=apps[q][0], person=apps[q][1],
                            gallery=gallery))
    return queries


def _gallery_fields(person: Optional[dict]) -> tuple:
    """(idlocate, ishard) of a gallery entry.

    For an image without the query person ``idlocate`` is 1 x 0, as in the
    released ``TestG*.mat`` (the OIM-lineage readers index ``item[1][0]``
    and test its size; a 0 x 0 array raises IndexError there); ``ishard``
    stays 0 x 0 (no legacy reader looks at it).
    """
    if person is None:
        return np.zeros((1, 0)), np.zeros((0, 0))
    return mat_double(person['box']), mat_hard(person)


def _query_rows(test: List[dict], queries: List[dict], size: int,
                first_id: int) -> list:
    """(Query, Gallery) struct pairs with galleries of ``size`` images."""
    rows = []
    for n, q in enumerate(queries):
        query = mat_structs([(test[q['rec']]['name'],
                              mat_double(q['person']['box']),
                              mat_hard(q['person']), f'p{first_id + n}')],
                            ('imname', 'idlocate', 'ishard', 'idname'))
        gallery = mat_structs([(test[r]['name'], *_gallery_fields(p))
                               for r, p in q['gallery'][:size]],
                              ('imname', 'idlocate', 'ishard'))
        rows.append((query, gallery))
    return rows


def cuhk_subsets(queries: List[dict]) -> tuple:
    """Indices of the occlusion and low-resolution query subsets.

    Occlusion: queries whose box is partly hidden (the most hidden ones if
    fewer than two). Resolution: the smallest quarter of the query boxes.
    Both hold at least ``min(2, len(queries))`` queries.
    """
    low = min(2, len(queries))
    visible = [q['person']['visible'] for q in queries]
    order = np.argsort(visible, kind='stable')
    occl = [int(i) for i in order if visible[i] < OCCLUDED_BELOW]
    occl = occl if len(occl) >= low else [int(i) for i in order[:low]]
    areas = [q['person']['box'][2] * q['person']['box'][3] for q in queries]
    small = np.argsort(areas, kind='stable')[:max(low, -(-len(queries) // 4))]
    return sorted(occl), sorted(int(i) for i in small)


def _cuhk_test_mats(root: str, test: List[dict], queries: List[dict],
                    first_id: int):
    base = osp.join(root, 'annotation', 'test')
    for size in CUHK_GALLERY_SIZES:
        rows = _query_rows(test, queries, size, first_id)
        save_mat(osp.join(base, 'train_test', f'TestG{size}.mat'),
                 f'TestG{size}', mat_structs(rows, ('Query', 'Gallery')))
    rows = _query_rows(test, queries, SUBSET_GALLERY_SIZE, first_id)
    occl, small = cuhk_subsets(queries)
    save_mat(osp.join(base, 'subset', 'Occlusion.mat'), 'Occlusion1',
             mat_structs([rows[i] + (mat_double(1.0), ) for i in occl],
                         ('Query', 'Gallery', 'occlusion')))
    save_mat(osp.join(base, 'subset', 'Resolution.mat'), 'Test_Size',
             mat_structs([rows[i] for i in small], ('Query', 'Gallery')))


def make_cuhk_sysu(root: str, rng: np.random.Generator, sizes: dict,
                   progress: Optional[Progress] = None) -> dict:
    """Write the CUHK-SYSU layout under ``root``; returns statistics."""
    n_train, n_test = sizes['cuhk_train_ids'], sizes['cuhk_test_ids']
    identities = sample_identities(rng, n_train + n_test)
    need = MIN_APPEARANCES['CUHK-SYSU']
    places = sizes['group_places']
    train = plan_split(rng, sizes['cuhk_train_scenes'], range(n_train), need,
                       sizes, places)
    test = plan_split(rng, sizes['cuhk_test_scenes'],
                      range(n_train, n_train + n_test), need, sizes, places)
    numbers = rng.permutation(len(train) + len(test)) + 1
    for rec, number in zip(train + test, numbers):
        rec['name'], rec['number'] = f's{number}.jpg', int(number)
    train.sort(key=lambda r: r['number'])
    test.sort(key=lambda r: r['number'])

    def render(rec):
        r = np.random.default_rng(rec['seed'])
        size = sizes['img_width'], sizes['img_height']
        bg = (place_background(rec['place'], *size, r) if 'place' in rec
              else make_background(r, *size))
        return render_planned(r, rec, identities, bg, sample_lighting(r))

    def write(rec, img):
        write_jpeg(osp.join(root, 'Image', 'SSM', rec['name']), img)

    render_all(sorted(train + test, key=lambda r: r['number']), render,
               write, progress, 'CUHK-SYSU')
    _cuhk_images_mat(root, sorted(train + test, key=lambda r: r['number']))
    save_mat(osp.join(root, 'annotation', 'pool.mat'), 'pool',
             mat_cell([rec['name'] for rec in test]))
    _cuhk_train_mat(root, train, n_train)
    queries = cuhk_queries(rng, test, range(n_train, n_train + n_test))
    _cuhk_test_mats(root, test, queries, first_id=n_train + 1)
    return dataset_stats(train, test, len(queries))
