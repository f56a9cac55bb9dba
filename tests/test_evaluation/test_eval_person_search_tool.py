"""Offline evaluator tool and the evaluator on converter outputs."""
import importlib.util
import json
import os.path as osp
import pickle

import numpy as np
import pytest

from mmqgn.evaluation.functional import eval_search, eval_search_reference
from mmqgn.structures import PersonSearchAnnotations, RetrievalSet

TOOL = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools',
                'eval_person_search.py')


def _tool():
    spec = importlib.util.spec_from_file_location('eval_person_search', TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def perfect_results(ann_file, dim=32, seed=0):
    """Detections = GT boxes (score 0.9); embeddings: one random unit vector
    per labeled person, an independent one per unlabeled box; the query
    embedding of an annotation is its box's."""
    with open(ann_file) as f:
        ann = json.load(f)
    rng = np.random.default_rng(seed)
    per_pid = {}
    gallery = {im['id']: ([], []) for im in ann['images']}
    queries = {}
    for a in ann['annotations']:
        pid = a['person_id']
        if pid >= 0:
            v = per_pid.setdefault(pid, rng.standard_normal(dim))
        else:
            v = rng.standard_normal(dim)
        v = (v / np.linalg.norm(v)).astype(np.float32)
        x, y, w, h = a['bbox']
        gallery[a['image_id']][0].append([x, y, x + w, y + h])
        gallery[a['image_id']][1].append(v)
        queries[a['id']] = v
    out = {}
    for img, (boxes, embs) in gallery.items():
        out[img] = {'bboxes': np.array(boxes, np.float32).reshape(-1, 4),
                    'scores': np.full(len(boxes), 0.9, np.float32),
                    'embeddings': np.array(embs, np.float32).reshape(-1, dim)}
    return {'gallery': out, 'queries': queries}


@pytest.mark.parametrize('dataset', ['CUHK-SYSU', 'PRW'])
def test_converted_sets_perfect_predictions(synthetic_root, dataset):
    root = synthetic_root / dataset
    ann_file = str(root / 'annotations' / 'test.json')
    anns = PersonSearchAnnotations(ann_file)
    res = perfect_results(ann_file)
    names = ['G50', 'G100', 'GFull'] if dataset == 'CUHK-SYSU' else \
        ['test', 'same_cam', 'cross_cam']
    for name in names:
        rset = RetrievalSet(str(root / 'retrieval' / f'{name}.json'), anns)
        for legacy in (True, False):
            fast = eval_search(rset, res['gallery'], res['queries'],
                               legacy=legacy)
            ref = eval_search_reference(rset, res['gallery'], res['queries'],
                                        legacy=legacy)
            np.testing.assert_allclose(fast.ap, ref.ap, atol=1e-12)
            np.testing.assert_array_equal(fast.first_rank, ref.first_rank)
            # every GT found, the person's boxes score 1 and rank first
            ok = fast.gt_count > 0
            assert (fast.first_rank[ok] == 0).all()
            if not legacy:
                np.testing.assert_allclose(fast.ap[fast.valid], 1.0)


def test_tool_end_to_end(synthetic_root, tmp_path):
    tool = _tool()
    root = synthetic_root / 'CUHK-SYSU'
    res = perfect_results(str(root / 'annotations' / 'test.json'))
    path = tmp_path / 'results.pkl'
    path.write_bytes(pickle.dumps(res))
    out = tmp_path / 'eval'
    metrics = tool.main([str(path), '--data-root', str(root), '--out-dir',
                         str(out), '--cmc-max-k', '20'])
    # default: every CUHK gallery size present
    for name in ('G50', 'G100', 'G500', 'G1000', 'G2000', 'G4000', 'GFull'):
        assert f'{name}/mAP' in metrics
    assert metrics['det/recall'] == pytest.approx(1.0)
    assert metrics['det/AP'] == pytest.approx(1.0)
    for f in ('metrics.csv', 'metrics.md', 'cmc.csv', 'cmc.png',
              'map_vs_gallery_size.png', 'per_query.person_search.json'):
        assert (out / f).is_file(), f
    assert (out / 'cmc.csv').read_text().count('\n') == 21

    # JSON results, a list of per-sample dicts, explicit sets
    samples = [{'img_id': k, 'pred_instances': v}
               for k, v in res['gallery'].items()]
    samples += [{'img_id': -1, 'is_query': True, 'query_ann_id': k,
                 'pred_instances': {'embeddings': v[None]}}
                for k, v in res['queries'].items()]
    path = tmp_path / 'samples.pkl'
    path.write_bytes(pickle.dumps(samples))
    m2 = tool.main([str(path), '--data-root', str(root), '--sets', 'G100',
                    '--out-dir', str(tmp_path / 'e2'), '--no-plots'])
    assert m2['G100/mAP'] == pytest.approx(metrics['G100/mAP'])
    js = {'gallery': {str(k): {kk: vv.tolist() for kk, vv in v.items()}
                      for k, v in res['gallery'].items()},
          'queries': {str(k): v.tolist() for k, v in res['queries'].items()}}
    path = tmp_path / 'results.json'
    path.write_text(json.dumps(js))
    m3 = tool.main([str(path), '--data-root', str(root), '--sets', 'G100',
                    '--out-dir', str(tmp_path / 'e3'), '--no-plots',
                    '--corrected'])
    assert 'G100/num_excluded' in m3
