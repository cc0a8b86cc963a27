from .ddavs import DDAVS
from .ddavs_tta import DDAVSTTAModel

__all__ = ['DDAVS', 'DDAVSTTAModel']
