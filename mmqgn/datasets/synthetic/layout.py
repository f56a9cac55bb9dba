"""Scene layout of a split: which identities each scene shows, statistics.

Identities form groups; a scene shows people of one group only, so the scenes
sharing identities make several connected components (as in CUHK-SYSU). Each
identity appears in at least ``MIN_APPEARANCES`` scenes of its split.
"""
from typing import Dict, List, Sequence

import numpy as np

from .scene import OCCLUDED_BELOW

MIN_APPEARANCES = {'CUHK-SYSU': 2, 'PRW': 3}


def _people_counts(rng: np.random.Generator, n_scenes: int, n_ids: int,
                   need: int, sizes: dict) -> list:
    """[labelled, unlabelled] per scene, with >= ``need`` labelled slots."""
    lo, hi = sizes['min_people'], sizes['max_people']
    counts = []
    for _ in range(n_scenes):
        total = int(rng.integers(lo, hi + 1))
        unl = int(rng.integers(0, min(sizes['max_unlabeled'], total - 1) + 1))
        counts.append([min(total - unl, n_ids), unl])
    while sum(c[0] for c in counts) < need:
        free = [c for c in counts if c[0] < min(hi, n_ids)]
        if not free:
            raise ValueError(
                f'too few scenes: a group of {n_ids} identities got '
                f'{n_scenes} scenes of at most {hi} people, too few to show '
                f'each identity {need // n_ids} times')
        c = free[int(rng.integers(len(free)))]
        c[0] += 1
        c[1] = min(c[1], hi - c[0])
    return counts


def _deal(rng: np.random.Generator, counts: list, ids: Sequence[int],
          scenes: list):
    """Give each scene its labelled identities, least-used first."""
    used = np.zeros(len(ids))
    for (n_lab, n_unl), scene in zip(counts, scenes):
        pick = np.argsort(used + rng.random(len(ids)), kind='stable')[:n_lab]
        used[pick] += 1
        scene.update(ids=[int(ids[i]) for i in sorted(pick)],
                     n_unlabeled=n_unl)


def plan_split(rng: np.random.Generator, n_scenes: int, ids: Sequence[int],
               min_appear: int, sizes: dict, places: int = 0) -> List[dict]:
    """Scenes of one split: identity indices, unlabelled count, seed.

    Identities form groups of about ``id_group_size`` and a scene shows
    people of one group only, so the scenes sharing identities make several
    connected components (as in CUHK-SYSU, needed by the train/val split).
    Within a group identities are dealt least-used first, so each one
    appears in ``min_appear`` or more scenes (at most once per scene). With
    ``places = N >= 1`` each scene also gets ``place``, the seed of one of
    its group's ``N`` places (scene context).
    """
    n_groups = min(-(-len(ids) // sizes['id_group_size']), n_scenes)
    groups = np.array_split(rng.permutation(np.asarray(ids)), n_groups)
    owner = rng.permutation(np.arange(n_scenes) % n_groups)
    scenes = [dict(seed=int(rng.integers(2**63))) for _ in range(n_scenes)]
    for g, group in enumerate(groups):
        mine = [s for s, o in zip(scenes, owner) if o == g]
        counts = _people_counts(rng, len(mine), len(group),
                                min_appear * len(group), sizes)
        _deal(rng, counts, sorted(int(i) for i in group), mine)
    if places:  # drawn last: the people do not depend on the places
        seeds = rng.integers(2**63, size=(n_groups, places))
        for scene, g in zip(scenes, owner):
            scene['place'] = int(seeds[g, rng.integers(places)])
    return scenes


def appearances(records: List[dict]) -> Dict[int, list]:
    """Identity -> [(record index, person)] in record order."""
    found = {}
    for r, rec in enumerate(records):
        for person in rec['people']:
            if person['id'] >= 0:
                found.setdefault(person['id'], []).append((r, person))
    return found


def split_stats(records: List[dict]) -> dict:
    people = [p for rec in records for p in rec['people']]
    known = [p for p in people if p['id'] >= 0]
    return dict(
        images=len(records), boxes=len(people), known_boxes=len(known),
        unlabeled_boxes=len(people) - len(known),
        occluded_boxes=sum(p['visible'] < OCCLUDED_BELOW for p in people),
        identities=len({p['id'] for p in known}))


def dataset_stats(train: List[dict], test: List[dict],
                  num_queries: int) -> dict:
    """Totals plus per-split numbers (prefixed ``train_`` / ``test_``)."""
    stats = split_stats(train + test)
    for name, recs in (('train', train), ('test', test)):
        stats.update({f'{name}_{k}': v
                      for k, v in split_stats(recs).items()})
    stats['queries'] = num_queries
    return stats
