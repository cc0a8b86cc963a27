"""Evaluation metrics of DDAVS-MM."""
from .jf_metric import JFMetric

__all__ = ['JFMetric']
