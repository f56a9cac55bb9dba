from .checkpoint import register_checkpoint_loader
from .dist import setup_cpu_distributed
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'register_checkpoint_loader',
    'setup_cpu_distributed'
]
