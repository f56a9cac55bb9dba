import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` (torchrun) runs work without a GPU.

    MMEngine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` and
    wraps the model in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a
    CPU-only machine. There, start the process group with the gloo backend
    (the Runner then skips its own initialisation) and wrap the model
    without device ids. Nothing changes when CUDA is available.
    """
    if cfg.get('launcher') != 'pytorch' or torch.cuda.is_available():
        return
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
