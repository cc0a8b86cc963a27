from .ddavs import DDAVS

__all__ = ['DDAVS']
