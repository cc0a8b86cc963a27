from .resumable_one_cycle_lr import ResumableOneCycleLR

__all__ = ['ResumableOneCycleLR']
