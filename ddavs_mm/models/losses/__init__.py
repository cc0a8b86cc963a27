from .cross_entropy_loss import AVSCrossEntropyLoss
from .dice_loss import AVSDiceLoss
from .focal_loss import AVSFocalLoss
from .iou_loss import AVSIoULoss

__all__ = ['AVSCrossEntropyLoss', 'AVSDiceLoss', 'AVSFocalLoss', 'AVSIoULoss']
