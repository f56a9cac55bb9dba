"""Scene lookup table (LUT) of the GFN with PxNy sampling.

gfn_seqnext.md §3.5 and §8.1 decision 7. Per-process state (decision 19):
under DDP every rank keeps its own table.
"""
from typing import Dict, Hashable, List, Optional, Sequence

import torch
from torch import Tensor


class SceneLookupTable:
    """Gradient-free store of past scenes and their persons.

    An entry per ``image_id`` (kept on the CPU): the scene embedding (D,),
    the embeddings (n, D) and pids (n,) of all its GT persons (-1 unknown),
    and its set of known pids. Only images with at least one GT box are
    stored; a new batch overwrites its images' entries.

    Sampling (code form): draw ``min(max_sampled_pids or B, |known pids in
    the batch|)`` known batch pids without replacement; for each, walk the
    LUT in a random order and take up to ``num_pos`` scenes holding the pid
    and up to ``num_neg`` hard negatives (scenes without the pid sharing
    another known pid with the batch scenes where it appears), skipping
    batch images and scenes already taken.

    Args:
        num_pos (int): P. Defaults to 1.
        num_neg (int): N. Defaults to 1.
        max_sampled_pids (int, optional): cap on sampled pids; None = the
            batch size.
    """

    def __init__(self,
                 num_pos: int = 1,
                 num_neg: int = 1,
                 max_sampled_pids: Optional[int] = None) -> None:
        self.num_pos = num_pos
        self.num_neg = num_neg
        self.max_sampled_pids = max_sampled_pids
        self.entries: Dict[Hashable, dict] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def update(self, image_ids: Sequence[Hashable], scenes: Tensor,
               persons: Sequence[Tensor], pids: Sequence[Tensor]) -> None:
        """Store scenes (B, D) with per-image persons (n_i, D), pids (n_i,)."""
        for key, scene, emb, pid in zip(image_ids, scenes, persons, pids):
            if len(pid) == 0:
                continue
            pid = pid.detach().long().cpu()
            self.entries[key] = dict(scene=scene.detach().float().cpu(),
                                     persons=emb.detach().float().cpu(),
                                     pids=pid,
                                     pidset=set(pid[pid >= 0].tolist()))

    def _pick(self, pid: int, linked: set, candidates: List[Hashable],
              chosen: List[Hashable]) -> None:
        """Append up to P positive and N hard-negative scenes for ``pid``."""
        n_pos = n_neg = 0
        for i in torch.randperm(len(candidates)).tolist():
            key = candidates[i]
            if key in chosen:
                continue
            pidset = self.entries[key]['pidset']
            if pid in pidset and n_pos < self.num_pos:
                chosen.append(key)
                n_pos += 1
            elif pid not in pidset and pidset & linked \
                    and n_neg < self.num_neg:
                chosen.append(key)
                n_neg += 1
            if n_pos >= self.num_pos and n_neg >= self.num_neg:
                return

    def sample_keys(self, image_ids: Sequence[Hashable],
                    pids: Sequence[Tensor]) -> List[Hashable]:
        """Image ids of the LUT scenes chosen for a batch (``pids``: the GT
        pids of each batch image)."""
        sets = [set(p[p >= 0].tolist()) for p in pids]
        known = sorted(set().union(*sets)) if sets else []
        cap = self.max_sampled_pids or len(image_ids)
        order = torch.randperm(len(known))[:min(cap, len(known))].tolist()
        batch = set(image_ids)
        candidates = [k for k in self.entries if k not in batch]
        chosen: List[Hashable] = []
        for pid in (known[i] for i in order):
            linked = set().union(*(s for s in sets if pid in s)) - {pid}
            self._pick(pid, linked, candidates, chosen)
        return chosen

    def gather(self,
               keys: Sequence[Hashable],
               device: Optional[torch.device] = None) -> Optional[dict]:
        """Stack entries as extra (detached) GFN queries and scenes:
        ``persons`` (Q', D), ``person_pids`` (Q',), ``person_scene`` (Q',)
        indices into ``scenes`` (M', D), ``scene_pids`` (M tensors)."""
        if not keys:
            return None
        entries = [self.entries[k] for k in keys]
        counts = torch.tensor([len(e['pids']) for e in entries])
        out = dict(persons=torch.cat([e['persons'] for e in entries]),
                   person_pids=torch.cat([e['pids'] for e in entries]),
                   person_scene=torch.repeat_interleave(
                       torch.arange(len(entries)), counts),
                   scenes=torch.stack([e['scene'] for e in entries]))
        out = {k: v.to(device) for k, v in out.items()}
        out['scene_pids'] = [e['pids'].to(device) for e in entries]
        return out
