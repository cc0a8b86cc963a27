"""Image-guided refiner: sharpen the decoder's 1/4 logits at a finer stride.

Not part of the paper (off in its configs; ``DDAVS(refiner=...)``). The mask
decoder predicts at 1/4 of the input, so a sounding object a few cells wide
is drawn as a blurred blob: on the 128 px synthetic frames an object under
1 % of the image covers about 3x3 cells of the 32x32 output. The refiner
looks at the frame itself at ``stride`` (2 by default) and corrects the
upsampled logits there:

``z_fine = up(z) + conv_out(body([stem(I), up(z)]))``

where ``stem`` is one strided 3x3 conv of the frame, ``body`` is
``num_convs`` 3x3 convs and ``conv_out`` is zero-initialised, so a new
refiner returns exactly the bilinearly upsampled logits and learns only a
correction (edges, colours) on top of the audio-visual decision.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from ddavs_mm.registry import MODELS


@MODELS.register_module()
class ImageGuidedRefiner(BaseModule):
    """Logits ``[N, K, h, w]`` + frames ``[N, 3, H, W]`` → logits
    ``[N, K, ceil(H / stride), ceil(W / stride)]``.

    Args:
        num_classes (int): logit maps K (1 for binary masks).
        in_channels (int): image channels. Defaults to 3.
        channels (int): width of the stem and body. Defaults to 16.
        num_convs (int): 3x3 convs in the body (>= 1). Defaults to 2.
        stride (int): output stride w.r.t. the frame (1, 2 or 4). Defaults
            to 2.
        norm_cfg (dict): norm of the stem and body. Defaults to BN.
        act_cfg (dict): activation. Defaults to ReLU.
        align_corners (bool): for upsampling the logits. Defaults to False.
        init_cfg (dict, optional): mmengine init config (the output conv is
            zeroed after it in any case).
    """

    def __init__(self,
                 num_classes: int = 1,
                 in_channels: int = 3,
                 channels: int = 16,
                 num_convs: int = 2,
                 stride: int = 2,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 act_cfg: dict = dict(type='ReLU'),
                 align_corners: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if stride not in (1, 2, 4):
            raise ValueError(f'stride must be 1, 2 or 4, got {stride}')
        if num_convs < 1:
            raise ValueError(f'num_convs must be >= 1, got {num_convs}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.stride = stride
        self.align_corners = align_corners
        self.stem = ConvModule(in_channels, channels, 3, stride=stride,
                               padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.body = nn.Sequential(*[
            ConvModule(channels + (num_classes if i == 0 else 0), channels,
                       3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in range(num_convs)
        ])
        self.conv_out = nn.Conv2d(channels, num_classes, 3, padding=1)
        self._zero_output()

    def _zero_output(self) -> None:
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def init_weights(self) -> None:
        super().init_weights()
        self._zero_output()

    def forward(self, logits: torch.Tensor,
                frames: torch.Tensor) -> torch.Tensor:
        """Args:
            logits (Tensor): coarse logits ``[N, K, h, w]``.
            frames (Tensor): the normalised frames ``[N, C, H, W]``.

        Returns:
            Tensor: refined logits ``[N, K, H', W']`` at the stride.
        """
        if logits.dim() != 4 or logits.shape[1] != self.num_classes:
            raise ValueError(f'ImageGuidedRefiner expects logits [N, '
                             f'{self.num_classes}, h, w], got '
                             f'{tuple(logits.shape)}')
        if frames.dim() != 4 or frames.shape[1] != self.in_channels or \
                frames.shape[0] != logits.shape[0]:
            raise ValueError(f'ImageGuidedRefiner expects frames [N='
                             f'{logits.shape[0]}, {self.in_channels}, H, W], '
                             f'got {tuple(frames.shape)}')
        image = self.stem(frames)
        coarse = F.interpolate(logits, size=image.shape[-2:], mode='bilinear',
                               align_corners=self.align_corners)
        x = self.body(torch.cat([image, coarse.to(image.dtype)], dim=1))
        return coarse + self.conv_out(x)
