from .audio_query_module import AudioQueryModule
from .prototype_bank import PrototypeBank, load_bank, save_bank

__all__ = ['AudioQueryModule', 'PrototypeBank', 'load_bank', 'save_bank']
