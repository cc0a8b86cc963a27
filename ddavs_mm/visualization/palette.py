"""The VOC bit-shift colour palette, AVSBench's class colours."""
from typing import List


def voc_palette(num_classes: int = 256) -> List[List[int]]:
    """The VOC bit-shift colour palette used by AVSBench.

    Class ``j``'s colour spreads the bits of ``j`` over the three channels,
    most significant bit first: bit ``3i`` of ``j`` goes to bit ``7-i`` of
    red, bit ``3i+1`` to green and bit ``3i+2`` to blue. The AVSS colour
    labels (``labels_rgb``) are drawn with it, and the visualiser colours
    semantic masks with it when a data set names no palette.

    Args:
        num_classes (int): number of colours. Defaults to 256.

    Returns:
        list[list[int]]: ``num_classes`` RGB triples in ``[0, 255]``; class
        0 is black. ``np.asarray(voc_palette(n), np.uint8)`` gives the
        ``[n, 3]`` array form.
    """
    if num_classes < 0:
        raise ValueError(f'num_classes must be >= 0, got {num_classes}')
    palette = []
    for j in range(num_classes):
        rgb = [0, 0, 0]
        lab, i = j, 0
        while lab > 0:
            for c in range(3):
                rgb[c] |= ((lab >> c) & 1) << (7 - i)
            i += 1
            lab >>= 3
        palette.append(rgb)
    return palette
