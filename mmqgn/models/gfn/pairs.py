"""Positive / negative (query person, scene) pairs of the GFN objectives.

gfn_seqnext.md §3.3 (indicators I^Q and I^S) and §3.4 (``filter_neg``).
Identities are dataset person ids; -1 marks an unknown (unlabeled) person,
who matches no other box.
"""
from typing import Sequence, Tuple

import torch
from torch import Tensor


def scene_membership(scene_pids: Sequence[Tensor]) -> Tuple[Tensor, Tensor]:
    """Which known pids each scene holds.

    Args:
        scene_pids: M tensors of person ids (-1 = unknown), one per scene.

    Returns:
        ``(pids, member)``: the sorted distinct known pids (P,) and a bool
        matrix (M, P), ``member[k, j]`` = scene k holds pid ``pids[j]``.
    """
    flat = torch.cat([p.reshape(-1).long() for p in scene_pids])
    pids = torch.unique(flat[flat >= 0])
    member = torch.stack([
        torch.isin(pids,
                   p.reshape(-1).long().to(pids.device)) for p in scene_pids
    ]) if len(scene_pids) else flat.new_zeros((0, 0), dtype=torch.bool)
    return pids, member


def scene_overlap(member: Tensor) -> Tensor:
    """(M, P) membership -> (M, M) bool: scenes sharing a known pid (I^S)."""
    m = member.float()
    return (m @ m.t()) > 0


def person_scene_pairs(person_pids: Tensor,
                       person_scene: Tensor,
                       scene_pids: Sequence[Tensor],
                       filter_neg: bool = True) -> Tuple[Tensor, Tensor]:
    """Positive and negative masks (Q, M) of query persons vs scenes.

    ``pos(q, k)``: k is q's own scene, or q is known and pid(q) is in k.
    ``neg(q, k)``: not pos and, with ``filter_neg``, (q is known or k shares
    no known pid with q's own scene) -- an unknown person may appear in
    scenes connected to its own, so they are not negatives (§3.4).

    Args:
        person_pids (Tensor): (Q,) pids, -1 unknown.
        person_scene (Tensor): (Q,) index of each person's scene in [0, M).
        scene_pids: M tensors of the pids of all persons of each scene.
        filter_neg (bool): apply the §3.4 rule. Defaults to True.
    """
    person_pids = person_pids.long()
    person_scene = person_scene.long()
    num_scenes = len(scene_pids)
    pids, member = scene_membership(scene_pids)
    known = person_pids >= 0
    own = person_scene[:, None] == torch.arange(
        num_scenes, device=person_scene.device)[None]  # (Q, M)
    col = torch.searchsorted(pids, person_pids.clamp(min=0))
    col = col.clamp(max=max(len(pids) - 1, 0))
    has_pid = known & (pids[col] == person_pids) if len(pids) else \
        torch.zeros_like(known)
    in_scene = member.t()[col] if len(pids) else torch.zeros_like(own)
    pos = own | (has_pid[:, None] & in_scene)
    neg = ~pos
    if filter_neg:
        linked = scene_overlap(member)[person_scene]  # (Q, M)
        neg = neg & (known[:, None] | ~linked)
    return pos, neg


def scene_scene_pairs(
        scene_pids: Sequence[Tensor],
        include_self_pairs: bool = True) -> Tuple[Tensor, Tensor]:
    """Positive and negative masks (M, M) of the scene-only objective:
    positives share a known pid (plus i = i when ``include_self_pairs``),
    negatives share none (§3.3 c, §8.1 decision 6)."""
    _, member = scene_membership(scene_pids)
    shared = scene_overlap(member)
    eye = torch.eye(len(scene_pids), dtype=torch.bool, device=shared.device)
    pos = (shared & ~eye) | (eye if include_self_pairs else eye & False)
    return pos, ~shared & ~eye
