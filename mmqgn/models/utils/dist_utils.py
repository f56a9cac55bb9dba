"""All-gather for tensors whose first dimension differs between ranks."""
from typing import Tuple

import torch
from mmengine.dist import all_gather, get_world_size, is_distributed
from torch import Tensor


def all_gather_varlen(*tensors: Tensor) -> Tuple[Tensor, ...]:
    """Concatenate ``tensors`` (same length N_r on rank r) over all ranks.

    Each tensor has shape (N_r, ...); the result has shape (sum_r N_r, ...)
    ordered by rank, identical on every rank. Ranks may hold different N_r:
    the tensors are zero-padded to max_r N_r for ``all_gather`` and trimmed
    afterwards. Not distributed (or a single process): returns the inputs.
    """
    if not is_distributed() or get_world_size() == 1:
        return tensors
    num = torch.tensor([tensors[0].size(0)], device=tensors[0].device)
    counts = [int(n.item()) for n in all_gather(num)]
    max_num = max(counts)
    gathered = []
    for tensor in tensors:
        padded = tensor.new_zeros((max_num, ) + tuple(tensor.shape[1:]))
        padded[:tensor.size(0)] = tensor
        parts = all_gather(padded)
        gathered.append(
            torch.cat([part[:n] for part, n in zip(parts, counts)]))
    return tuple(gathered)
