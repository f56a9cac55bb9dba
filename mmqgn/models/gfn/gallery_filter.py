"""Gallery Filter Network (GFN): scene embeddings, fusion, loss and score.

gfn_seqnext.md §3.1 (score), §3.2 (scene branch), §3.3 (objectives), §3.4
(negative filtering), §3.8 (training pseudo-code) and §8.1 decisions 1, 2,
4-8, 10, 11. In the 'proto' query mode (§3.6, decision 9) the caller
(:class:`PersonSearchDetector`) passes the OIM prototypes of the known persons
instead of their box embeddings; with ``lut`` set, lookup-table scenes and
persons (§3.5, :class:`SceneLookupTable`) are appended in :meth:`loss`.
:meth:`GalleryFilterNetwork.query_code` gives the code with which the
evaluator's numpy ``score_from_code`` scores (query, scene) pairs without the
network (eval-mode BN is affine).
"""
import copy
import math
from typing import Hashable, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import Tensor

from mmqgn.evaluation.functional.gfn_code import CODE_FIELDS
from mmqgn.registry import MODELS
from ..losses.nt_xent_loss import NTXentLoss  # noqa: F401 (registers it)
from .pairs import person_scene_pairs, scene_scene_pairs
from .scene_lut import SceneLookupTable

MODES = ('combined', 'base', 'image')
QUERY_MODES = ('batch', 'proto')


def _build_or_copy(module: Union[dict, nn.Module]) -> nn.Module:
    """A deep copy of a module (shares no parameter), or a built config."""
    if isinstance(module, nn.Module):
        return copy.deepcopy(module)
    return MODELS.build(module)


def valid_feature_sizes(img_shapes: Sequence[Tuple[int, int]],
                        batch_input_shape: Tuple[int, int],
                        feat_hw: Tuple[int, int]) -> list:
    """Feature cells (h, w) covering each image's unpadded region:
    ``ceil(img_h * H_feat / H_pad)`` (likewise for w)."""
    (pad_h, pad_w), (feat_h, feat_w) = batch_input_shape, feat_hw
    return [(min(feat_h, math.ceil(h * feat_h / pad_h)),
             min(feat_w, math.ceil(w * feat_w / pad_w)))
            for h, w in img_shapes]


@MODELS.register_module()
class GalleryFilterNetwork(BaseModule):
    """GFN of SeqNeXt (Jaffe & Zakhor).

    Scene branch (§3.2): ``y = L2(emb_head(P, scene_head(P)))`` with
    ``P = AdaptiveMaxPool(pool_size)`` of each image's valid C4 map,
    (B, C4, H, W) -> (B, D). ``scene_head`` / ``emb_head`` are configs (built
    here) or modules (deep-copied here), e.g. mmqgn ``ResLayerC5`` and
    ``PersonEmbeddingHead``.

    Fusion (§3.3 b): ``f(x, y) = BN1d(L2(y) * sigmoid(L2(x) / beta))``, one
    BN over all fused rows. Objectives (``mode``), with cos similarities and
    :class:`NTXentLoss` (t = 0.1, mean over positive pairs):

    - 'combined': anchor ``w_q = f(x_q, y_own(q))``, candidates
      ``z_qk = f(x_q, y_k)``; positives: scenes holding q (own included,
      cos = 1), negatives per §3.4.
    - 'base': code form (decision 4): anchor scene k, candidates persons q;
      the transposed person/scene masks.
    - 'image': scene vs scene, positives share a known pid.

    Score (§3.1, decision 2): ``sigmoid(cos / score_temperature)`` with
    cos = cos(w_q, z_qg) / cos(x_q, y_g) / cos(y_own(q), y_g) per mode.

    Args:
        scene_head (dict | nn.Module): conv5 head, (B, C4, h, w) -> (B, C5).
        emb_head (dict | nn.Module): ``forward(res4, res5) -> (B, D)``.
        embed_dim (int): D (size of the fusion BN). Defaults to
            ``emb_head.embed_dim``.
        mode (str): 'combined' (default), 'base' or 'image'.
        pool_size (int | tuple): scene pooling size. Defaults to 56.
        beta (float): fusion temperature. Defaults to 0.2.
        score_temperature (float): alpha. Defaults to 1.0.
        filter_neg (bool): §3.4 rule. Defaults to True.
        include_self_pairs (bool): 'image' mode i = i positives.
        loss (dict): Defaults to ``NTXentLoss(temperature=0.1)``.
        lut (dict, optional): :class:`SceneLookupTable` args, e.g.
            ``dict(num_pos=1, num_neg=1)`` (P1N1); None = no LUT.
        query_mode (str): 'batch' (final model: GT-box embeddings with
            gradient) or 'proto' (ablation: OIM prototypes of the known
            persons, unknown persons dropped, no gradient through the person
            path); read by the detector mixin (§3.6).
    """

    def __init__(self,
                 scene_head: Union[dict, nn.Module],
                 emb_head: Union[dict, nn.Module],
                 embed_dim: Optional[int] = None,
                 mode: str = 'combined',
                 pool_size: Union[int, Tuple[int, int]] = 56,
                 beta: float = 0.2,
                 score_temperature: float = 1.0,
                 filter_neg: bool = True,
                 include_self_pairs: bool = True,
                 loss: dict = dict(type='NTXentLoss', temperature=0.1),
                 lut: Optional[dict] = None,
                 query_mode: str = 'batch',
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg)
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if query_mode not in QUERY_MODES:
            raise ValueError(f'query_mode must be one of {QUERY_MODES}, got '
                             f'{query_mode!r}')
        self.query_mode = query_mode
        self.scene_head = _build_or_copy(scene_head)
        self.emb_head = _build_or_copy(emb_head)
        self.embed_dim = embed_dim or self.emb_head.embed_dim
        self.mode = mode
        self.pool_size = pool_size
        self.beta = beta
        self.score_temperature = score_temperature
        self.filter_neg = filter_neg
        self.include_self_pairs = include_self_pairs
        self.fusion_norm = nn.BatchNorm1d(self.embed_dim)
        self.loss_gfn = MODELS.build(loss)
        self.lut = SceneLookupTable(**lut) if lut is not None else None

    # ------------------------------------------------------------ scenes
    def pool_scenes(
            self,
            feats: Tensor,
            valid_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> Tensor:
        """(B, C4, H, W) -> (B, C4, *pool_size), each image's valid region
        ``feats[i, :, :h, :w]`` max-pooled (decision 11)."""
        if valid_sizes is None:
            return F.adaptive_max_pool2d(feats, self.pool_size)
        return torch.cat([
            F.adaptive_max_pool2d(f[None, :, :h, :w], self.pool_size)
            for f, (h, w) in zip(feats, valid_sizes)
        ])

    def scene_embeddings(
            self,
            feats: Tensor,
            valid_sizes: Optional[Sequence[Tuple[int, int]]] = None) -> Tensor:
        """C4 maps (B, C4, H, W) -> unit scene embeddings (B, D)."""
        pooled = self.pool_scenes(feats, valid_sizes)
        return F.normalize(self.emb_head(pooled, self.scene_head(pooled)),
                           dim=1)

    # ------------------------------------------------------------ fusion
    def _norm(self, z: Tensor) -> Tensor:
        """BN1d; running statistics for a single row in training."""
        bn = self.fusion_norm
        if self.training and z.size(0) <= 1:
            return F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight,
                                bn.bias, False, 0.0, bn.eps)
        return bn(z)

    def fuse(self, persons: Tensor, scenes: Tensor) -> Tensor:
        """All pairs: persons (Q, D), scenes (M, D) -> z (M, Q, D),
        ``z[k, q] = f(x_q, y_k)`` (one BN over the M*Q rows)."""
        gate = torch.sigmoid(F.normalize(persons, dim=1) / self.beta)
        z = F.normalize(scenes, dim=1)[:, None] * gate[None]
        return self._norm(z.flatten(0, 1)).view(z.shape)

    def combined_similarity(self, persons: Tensor, scenes: Tensor,
                            person_scene: Tensor) -> Tensor:
        """(Q, M) cos(w_q, z_qk) with ``w_q = z[own(q), q]``."""
        z = self.fuse(persons, scenes).transpose(0, 1)  # (Q, M, D)
        w = z[torch.arange(len(z), device=z.device), person_scene.long()]
        return F.cosine_similarity(w[:, None], z, dim=2)

    # -------------------------------------------------------------- loss
    def loss(self,
             persons: Tensor,
             person_pids: Tensor,
             person_scene: Tensor,
             scenes: Tensor,
             scene_pids: Sequence[Tensor],
             image_ids: Optional[Sequence[Hashable]] = None) -> dict:
        """GFN loss (§3.8).

        Args:
            persons (Tensor): (Q, D) query person embeddings (GT boxes).
            person_pids (Tensor): (Q,) person ids, -1 unknown.
            person_scene (Tensor): (Q,) index of each person's scene.
            scenes (Tensor): (M, D) scene embeddings.
            scene_pids: M tensors, the pids of every person of each scene.
            image_ids (Sequence, optional): ids of the M scenes; with a LUT
                in training mode, sampled LUT persons and scenes join the
                batch (detached) and the LUT is then updated.

        Returns:
            dict: ``loss_gfn``; 0 without query persons.
        """
        if persons.numel() == 0 or scenes.numel() == 0:
            return dict(loss_gfn=scenes.sum() * 0.0 + persons.sum() * 0.0)
        if self.lut is not None and image_ids is not None and self.training:
            persons, person_pids, person_scene, scenes, scene_pids = \
                self._extend_with_lut(persons, person_pids, person_scene,
                                      scenes, scene_pids, image_ids)
        return dict(loss_gfn=self._objective(persons, person_pids,
                                             person_scene, scenes, scene_pids))

    def _objective(self, persons: Tensor, person_pids: Tensor,
                   person_scene: Tensor, scenes: Tensor,
                   scene_pids: Sequence[Tensor]) -> Tensor:
        """NT-Xent of the configured ``mode`` (§3.3)."""
        if self.mode == 'image':
            pos, neg = scene_scene_pairs(scene_pids, self.include_self_pairs)
            x = F.normalize(scenes, dim=1)
            return self.loss_gfn(x @ x.t(), pos, neg)
        pos, neg = person_scene_pairs(person_pids, person_scene, scene_pids,
                                      self.filter_neg)
        if self.mode == 'base':
            sim = F.normalize(scenes, dim=1) @ F.normalize(persons, dim=1).t()
            return self.loss_gfn(sim, pos.t(), neg.t())
        sim = self.combined_similarity(persons, scenes, person_scene)
        return self.loss_gfn(sim, pos, neg)

    def _extend_with_lut(self, persons, person_pids, person_scene, scenes,
                         scene_pids, image_ids) -> tuple:
        """Sample LUT scenes for the batch (§3.5), update the LUT with the
        batch, and append the sampled (gradient-free) persons/scenes."""
        per_image = [person_scene == i for i in range(len(scenes))]
        keys = self.lut.sample_keys(image_ids,
                                    [person_pids[m] for m in per_image])
        extra = self.lut.gather(keys, scenes.device)
        self.lut.update(image_ids, scenes, [persons[m] for m in per_image],
                        [person_pids[m] for m in per_image])
        if extra is None:
            return persons, person_pids, person_scene, scenes, scene_pids
        return (torch.cat([persons, extra['persons'].to(persons.dtype)]),
                torch.cat([person_pids.long(), extra['person_pids']]),
                torch.cat([
                    person_scene.long(), extra['person_scene'] + len(scenes)
                ]), torch.cat([scenes, extra['scenes'].to(scenes.dtype)]),
                list(scene_pids) + extra['scene_pids'])

    # ------------------------------------------------------------- score
    def similarity(self, queries: Tensor, query_scenes: Tensor,
                   gallery_scenes: Tensor) -> Tensor:
        """Raw GFN cosine (Nq, G) of queries (Nq, D) with their own scene
        embeddings (Nq, D) against gallery scenes (G, D)."""
        if self.mode == 'image':
            a, b = query_scenes, gallery_scenes
        elif self.mode == 'base':
            a, b = queries, gallery_scenes
        else:
            w = self._norm(
                F.normalize(query_scenes, dim=1) * torch.sigmoid(
                    F.normalize(queries, dim=1) / self.beta))  # (Nq, D)
            z = self.fuse(queries, gallery_scenes).transpose(0, 1)
            return F.cosine_similarity(w[:, None], z, dim=2)
        return F.normalize(a, dim=1) @ F.normalize(b, dim=1).t()

    def score(self, queries: Tensor, query_scenes: Tensor,
              gallery_scenes: Tensor) -> Tensor:
        """``sigmoid(cos / alpha)`` (Nq, G), in [0.2689, 0.7311] for
        alpha = 1 (§3.1)."""
        cos = self.similarity(queries, query_scenes, gallery_scenes)
        return torch.sigmoid(cos / self.score_temperature)

    def query_code(self, persons: Tensor, scenes: Tensor) -> Tensor:
        """Query-only code (Q, 3D + 3) = ``[u, v2, v1, k0, v0, alpha]``
        (layout: :mod:`mmqgn.evaluation.functional.gfn_code`) so that the
        evaluator's ``score_from_code`` gives :meth:`score` without the
        model.

        With eval-mode BN (running statistics) the fusion is affine per
        channel, ``z = a * (y * s) + b`` with ``s = sigmoid(x_q / beta)``,
        ``a = gamma / sqrt(var + eps)``, ``b = beta_bn - a * mean``, so for
        a unit gallery scene y: ``cos(w_q, z_qg) = (u . y + k0) /
        sqrt(v2 . y^2 + v1 . y + v0)`` with ``u = w a s / |w|``,
        ``v2 = (a s)^2``, ``v1 = 2 a s b``, ``k0 = w . b / |w|``,
        ``v0 = |b|^2`` ('combined'); 'base': ``u = x_q`` and 'image':
        ``u = y_q`` (``v2 = 1``, ``v1 = 0``, ``k0 = v0 = 0``).

        Args:
            persons (Tensor): (Q, D) query person embeddings.
            scenes (Tensor): (Q, D) scene embeddings of the query images.
        """
        x, y = F.normalize(persons, dim=1), F.normalize(scenes, dim=1)
        zeros = x.new_zeros((len(x), 1))
        if self.mode != 'combined':
            u = x if self.mode == 'base' else y
            code = dict(u=u, v2=torch.ones_like(u), v1=torch.zeros_like(u),
                        k0=zeros, v0=zeros)
        else:
            bn = self.fusion_norm
            a = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                a = bn.weight * a
            b = -a * bn.running_mean
            if bn.bias is not None:
                b = b + bn.bias
            s = a * torch.sigmoid(x / self.beta)  # (Q, D): a * s
            w = s * y + b
            wn = w.norm(dim=1, keepdim=True)
            code = dict(u=w * s / wn, v2=s**2, v1=2 * s * b,
                        k0=(w @ b)[:, None] / wn,
                        v0=(b @ b).expand(len(x), 1))
        code['alpha'] = zeros + self.score_temperature
        return torch.cat([code[name] for name in CODE_FIELDS], dim=1)
