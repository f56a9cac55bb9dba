"""Online Instance Matching loss (Xiao et al., CVPR 2017).

qgn_qeeps.md §6 (formula and defaults; §6.2 the NAE4PS rule of the OIM
baseline of QGN/QEEPS), gfn_seqnext.md §2.7 (the GFN rule: masking of empty
rows, "divide by all" mean) and §8.1 item 16 (tables as buffers);
pgs_igpn.md §1.5 and P7-P9 (the PGS adaptive momentum update, AMU).
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmqgn.registry import MODELS
from ..utils import all_gather_varlen

IGNORE_LABEL = -1


@MODELS.register_module()
class OIMLoss(nn.Module):
    """OIM loss with a lookup table (LUT) and a circular queue (CQ).

    ``x`` (N, D) are L2-normalised embeddings of foreground RoIs and
    ``labels`` (N,) their OIM indices (0 .. num_person_ids - 1, or -1 for an
    unlabeled person). With V = LUT (L, D), U = CQ (Q, D) and M labeled
    samples among the N::

        logits = scalar * [x V^T || x U^T]            # (N, L + Q)
        loss = sum_{labeled i} CE(logits_i, y_i) / N  # normalize='all'
        loss = sum_{labeled i} CE(logits_i, y_i) / M  # normalize='labeled'

    The two rules of the two reference implementations:

    - ``'all'``: the GFN/SeqNeXt code (gfn_seqnext.md §2.7): divide by all N
      foreground RoIs, unlabeled included, and mask never-written (all-zero)
      columns: an empty LUT column reads -1, except +1 at a sample's own
      empty row; an empty CQ column reads -1 (constants, no gradient).
    - ``'labeled'``: NAE4PS, the OIM baseline that QGN and QEEPS build on
      (qgn_qeeps.md §6.2): the mean over the M labeled RoIs (cross-entropy
      with an ignore index), no masking (an empty row gives cosine 0).

    On CUHK-SYSU 27% of the training boxes are labeled (gfn_seqnext.md
    §5.3), so ``'all'`` weighs the term about 0.3x of ``'labeled'``. After the
    forward pass (no grad; gathered over all ranks so that every rank keeps
    the same tables): ``V[y] <- normalize(m V[y] + (1 - m) x)`` for labeled
    samples, in order; unlabeled samples enter U first-in first-out. The
    table maths runs in float32 even under autocast.

    ``update_rule='amu'`` (PGS, pgs_igpn.md §1.5 Eqs. 7-8, P7, P8) replaces
    the fixed m by a per-sample momentum. Sequentially, one labeled sample x
    with label i after another in the gathered order (the same on every
    rank): an unwritten row stores ``normalize(x)``; otherwise, with
    ``q = argmax_{p written, p != i} V[p] . V[i]`` (the hardest negative
    prototype of the prototype; the queue is not searched)::

        eta = sigmoid((V[q] . x - V[i] . x) / amu_temperature)
        V[i] <- normalize(eta V[i] + (1 - eta) x)

    and eta = ``momentum`` when no other row is written. This is Eq. 8 as
    written (and the paper's introduction): a sample closer to the hardest
    negative than to its own prototype barely moves it. One sentence of
    the paper's Sec. 3.4 describes the opposite direction; the digest
    (P7) follows the equation, and so does this code. AMU keeps no state
    of its own (a row is written when it is not all zero), so checkpoints
    and resumes are those of the fixed update.

    Args:
        num_person_ids (int, optional): LUT rows L, the number of known
            training identities (CUHK-SYSU 5532, PRW 483 in the standardized
            data). None: taken from the training set before training
            (:meth:`set_num_person_ids`, called by ``OIMTableSizeHook`` with
            ``num_person_ids`` of the dataset's metainfo, i.e. the converted
            annotation file; gfn_seqnext.md decision 21), or from the
            checkpoint that is loaded first.
        queue_size (int): CQ rows Q (CUHK-SYSU 5000, PRW 500); 0 disables it.
        embed_dim (int): D. Defaults to 256.
        scalar (float): inverse temperature. Defaults to 30.
        momentum (float): LUT momentum m. Defaults to 0.5.
        loss_weight (float): Defaults to 1.0.
        normalize (str): ``'all'`` (GFN/SeqNeXt rule) or ``'labeled'``
            (NAE4PS rule of the OIM/QGN/QEEPS papers), see above. Defaults
            to ``'all'``.
        update_rule (str): the LUT update, ``'momentum'`` (fixed ``momentum``,
            the OIM rule) or ``'amu'`` (PGS adaptive momentum, above).
            Defaults to ``'momentum'``.
        amu_temperature (float): tau of the AMU gate (PGS: 0.05, swept
            over 0.03 / 0.05 / 0.1; pgs_igpn.md P9). Defaults to 0.05.
    """

    def __init__(self,
                 num_person_ids: Optional[int],
                 queue_size: int,
                 embed_dim: int = 256,
                 scalar: float = 30.0,
                 momentum: float = 0.5,
                 loss_weight: float = 1.0,
                 normalize: str = 'all',
                 update_rule: str = 'momentum',
                 amu_temperature: float = 0.05) -> None:
        super().__init__()
        if normalize not in ('all', 'labeled'):
            raise ValueError("OIMLoss normalize must be 'all' (GFN) or "
                             f"'labeled' (NAE4PS), got {normalize!r}")
        if update_rule not in ('momentum', 'amu'):
            raise ValueError(
                "OIMLoss update_rule must be 'momentum' (fixed) or 'amu' "
                f'(PGS adaptive momentum), got {update_rule!r}')
        if amu_temperature <= 0:
            raise ValueError('OIMLoss amu_temperature must be > 0, got '
                             f'{amu_temperature}')
        self.normalize = normalize
        self.update_rule = update_rule
        self.amu_temperature = amu_temperature
        if (num_person_ids is not None
                and num_person_ids <= 0) or queue_size < 0:
            raise ValueError('OIMLoss needs num_person_ids > 0 (or None) and '
                             f'queue_size >= 0, got {num_person_ids} and '
                             f'{queue_size}')
        self._sized_from_data = num_person_ids is None
        self.queue_size = queue_size
        self.embed_dim = embed_dim
        self.scalar = scalar
        self.momentum = momentum
        self.loss_weight = loss_weight
        self.register_buffer('lut', torch.zeros(num_person_ids or 0,
                                                embed_dim))
        self.register_buffer('queue', torch.zeros(queue_size, embed_dim))
        self.register_buffer('queue_ptr', torch.zeros((), dtype=torch.long))

    @property
    def num_person_ids(self) -> int:
        """L, the LUT rows (0 while a data-sized table is not sized yet)."""
        return self.lut.size(0)

    def set_num_person_ids(self, num: int, source: str = 'the data') -> None:
        """Size a ``num_person_ids=None`` LUT to ``num`` rows (all empty);
        the tensor object is kept (``.data`` is replaced) for wrappers that
        hold references to the buffers (DDP broadcasts the new one).

        An already sized table (from the config or a loaded checkpoint)
        is checked instead: a data-sized one must equal ``num``, a
        config-sized one must hold ``num`` rows (more rows only stay
        empty). ``source`` names where ``num`` comes from, for the error.
        """
        if num <= 0:
            raise ValueError(f'OIMLoss: {source} gives {num} known '
                             'identities; the OIM lookup table needs >= 1')
        rows = self.num_person_ids
        if rows == 0:
            self.lut.data = self.lut.new_zeros(num, self.embed_dim)
            return
        if rows < num or (self._sized_from_data and rows != num):
            if self._sized_from_data:
                origin, fix = 'from the loaded checkpoint', (
                    'the checkpoint was trained on other data; load one '
                    'trained on this training set')
            else:
                origin, fix = 'num_person_ids of the config', (
                    'set model.roi_head.reid_head.loss_reid.num_person_ids='
                    'None to size the table from the training annotations')
            raise ValueError(
                f'OIMLoss: the lookup table has {rows} rows ({origin}), but '
                f'there are {num} known identities in {source}: {fix}')

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """A data-sized LUT not sized yet takes the checkpoint's size (a
        test run, or a resume before ``OIMTableSizeHook`` checks it)."""
        lut = state_dict.get(prefix + 'lut')
        if self._sized_from_data and self.num_person_ids == 0 and \
                lut is not None:
            self.lut.data = self.lut.new_zeros(lut.shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: Tensor, labels: Tensor) -> Tensor:
        """Loss of ``x`` (N, D) with ``labels`` (N,); updates the tables
        afterwards when the module is in training mode."""
        labels = labels.long()
        self._check_labels(labels)
        with torch.autocast(device_type=x.device.type, enabled=False):
            x = x.to(self.lut.dtype)
            logits = self.scalar * self.similarities(x, labels)
            loss = F.cross_entropy(
                logits, labels, ignore_index=IGNORE_LABEL, reduction='sum')
            num = x.new_tensor(x.size(0)) if self.normalize == 'all' \
                else (labels >= 0).sum().to(x)  # no host sync
            loss = self.loss_weight * loss / num.clamp(min=1)
        if self.training:
            self.update(x.detach(), labels)
        return loss

    def similarities(self, x: Tensor, labels: Tensor) -> Tensor:
        """Cosine similarities [x V^T || x U^T], shape (N, L + Q); empty
        rows masked when ``normalize='all'``."""
        # clones: autograd keeps them while the buffers change in update()
        lut_sims = x.mm(self.lut.t().clone())
        queue_sims = x.mm(self.queue.t().clone())
        if self.normalize == 'labeled':
            return torch.cat([lut_sims, queue_sims], dim=1)
        empty = (self.lut.abs().sum(dim=1) == 0).expand_as(lut_sims)
        own = F.one_hot(labels.clamp(min=0), self.num_person_ids).bool()
        own &= (labels >= 0)[:, None]
        fill = own.to(x) * 2 - 1  # +1 on a sample's own row, else -1
        lut_sims = torch.where(empty, fill, lut_sims)
        empty_q = (self.queue.abs().sum(dim=1) == 0).expand_as(queue_sims)
        queue_sims = torch.where(empty_q, -torch.ones_like(queue_sims),
                                 queue_sims)
        return torch.cat([lut_sims, queue_sims], dim=1)

    def prototypes(self, labels: Tensor) -> Tensor:
        """LUT rows (N, D) of ``labels`` (N,) (0 .. L - 1), as they are now
        (before this iteration's update when called before ``forward``);
        detached copies."""
        return self.lut[labels.long()].detach().clone()

    def written_rows(self) -> Tensor:
        """(L,) bool: the LUT rows written at least once (not all zero)."""
        return self.lut.abs().sum(dim=1) != 0

    @torch.no_grad()
    def update(self, x: Tensor, labels: Tensor) -> None:
        """Write ``x`` into the LUT (labeled) and the queue (unlabeled),
        after gathering both from all ranks."""
        x, labels = all_gather_varlen(x, labels)
        if self.update_rule == 'amu':
            self._amu_update_lut(x[labels >= 0], labels[labels >= 0])
        else:
            self._update_lut(x[labels >= 0], labels[labels >= 0])
        self._push_queue(x[labels == IGNORE_LABEL])

    def _update_lut(self, x: Tensor, labels: Tensor) -> None:
        """Sequential momentum updates, vectorised over distinct labels:
        round k applies the k-th occurrence of every label."""
        if labels.numel() == 0:
            return
        occurrence = _occurrence_index(labels)
        m = self.momentum
        for k in range(int(occurrence.max()) + 1):
            sel = occurrence == k
            rows = m * self.lut[labels[sel]] + (1.0 - m) * x[sel]
            self.lut[labels[sel]] = F.normalize(rows, dim=1)

    def _amu_update_lut(self, x: Tensor, labels: Tensor) -> None:
        """AMU (class docstring), one sample after another: a sample's q
        and gate see the rows written by the samples before it."""
        written = self.written_rows()
        for feat, label in zip(x, labels.tolist()):
            if not written[label]:
                self.lut[label] = F.normalize(feat, dim=0)
                written[label] = True
                continue
            own = self.lut[label]
            others = self.lut.mv(own).masked_fill(~written, -float('inf'))
            others[label] = -float('inf')
            q = int(others.argmax())
            if others[q] == -float('inf'):  # no other row written yet
                eta = feat.new_tensor(self.momentum)
            else:
                eta = torch.sigmoid((self.lut[q] - own).dot(feat) /
                                    self.amu_temperature)
            self.lut[label] = F.normalize(eta * own + (1 - eta) * feat,
                                          dim=0)

    def _push_queue(self, x: Tensor) -> None:
        num, size = x.size(0), self.queue_size
        if num == 0 or size == 0:
            return
        ptr = int(self.queue_ptr)
        idx = torch.arange(ptr, ptr + num, device=x.device)
        # When num > size only the newest `size` features survive.
        self.queue[idx[-size:] % size] = x[-size:]
        self.queue_ptr.fill_((ptr + num) % size)

    def _check_labels(self, labels: Tensor) -> None:
        if self.num_person_ids == 0:
            raise ValueError(
                'OIMLoss: num_person_ids=None but the lookup table was never '
                'sized: add dict(type=\'OIMTableSizeHook\') to the hooks '
                '(configs/_base_/default_runtime.py has it) or call '
                'set_num_person_ids() with the number of known training '
                'identities')
        if labels.numel() == 0:
            return
        high, low = int(labels.max()), int(labels.min())
        if high >= self.num_person_ids:
            raise ValueError(
                f'person label {high} >= OIM lookup-table size '
                f'{self.num_person_ids}: set num_person_ids to the number '
                'of known identities of the training set')
        if low < IGNORE_LABEL:
            raise ValueError(f'person label {low} < -1: OIM labels are '
                             '0..num_person_ids-1, or -1 for unlabeled')

    def extra_repr(self) -> str:
        return (f'num_person_ids={self.num_person_ids}, '
                f'queue_size={self.queue_size}, embed_dim={self.embed_dim}, '
                f'scalar={self.scalar}, momentum={self.momentum}, '
                f'normalize={self.normalize!r}, '
                f'update_rule={self.update_rule!r}, '
                f'amu_temperature={self.amu_temperature}')


def _occurrence_index(labels: Tensor) -> Tensor:
    """For each element, how many equal labels precede it: [3, 1, 3] ->
    [0, 0, 1]."""
    sorted_labels, perm = torch.sort(labels, stable=True)
    idx = torch.arange(labels.numel(), device=labels.device)
    starts = torch.ones_like(sorted_labels, dtype=torch.bool)
    starts[1:] = sorted_labels[1:] != sorted_labels[:-1]
    group_start = torch.cummax(torch.where(starts, idx, 0), dim=0).values
    occurrence = torch.empty_like(idx)
    occurrence[perm] = idx - group_start
    return occurrence
