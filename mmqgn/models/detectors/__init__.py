from .oim import OIM

__all__ = ['OIM']
