from .avs_data_sample import AVSDataSample

__all__ = ['AVSDataSample']
