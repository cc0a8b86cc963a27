"""The COM loss uses the paper's negatives (Eq. 6) by default: the other
query slots of the same sample."""
import glob
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

import ddavs_mm  # noqa: F401  (registers modules)
from ddavs_mm.models.heads import ContrastiveHead
from ddavs_mm.registry import MODELS

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _slot_info_nce(z, z_aug, tau):
    """Eq. 6 written out with Python loops over samples and slots."""
    total, count = 0.0, 0
    for zs, zas in zip(z.tolist(), z_aug.tolist()):
        for i, zi in enumerate(zs):
            logits = [sum(a * b for a, b in zip(zi, zj)) / tau for zj in zas]
            total -= logits[i] - math.log(sum(math.exp(v) for v in logits))
            count += 1
    return total / count


def test_default_negatives_are_the_slots_of_the_sample():
    head = ContrastiveHead(in_channels=3, num_layers=0, temperature=0.2,
                           loss_weight=1.0)
    assert head.negatives == 'slots'
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 3, 3, generator=g)
    q_aug = q + 0.5 * torch.randn(2, 3, 3, generator=g)
    z = torch.nn.functional.normalize(q, dim=-1)
    z_aug = torch.nn.functional.normalize(q_aug, dim=-1)
    expected = _slot_info_nce(z, z_aug, 0.2)
    out = head.loss(q, q_aug)['loss_con'].item()
    assert out == pytest.approx(expected, rel=1e-5)
    # no candidate comes from another sample: the batch loss is the mean of
    # the per-sample losses (it is not with negatives='batch')
    singles = [head.loss(q[k:k + 1], q_aug[k:k + 1])['loss_con'].item()
               for k in range(2)]
    assert out == pytest.approx(sum(singles) / 2, rel=1e-5)
    batch = ContrastiveHead(in_channels=3, num_layers=0, temperature=0.2,
                            loss_weight=1.0, negatives='batch')
    assert batch.loss(q, q_aug)['loss_con'].item() != \
        pytest.approx(out, rel=1e-3)


def test_one_query_slot_gives_zero_loss():
    head = ContrastiveHead(in_channels=4, hidden_channels=8, out_channels=4)
    q = torch.randn(6, 1, 4, requires_grad=True)
    loss = head.loss(q, torch.randn(6, 1, 4))['loss_con']
    assert loss.item() == 0.0
    loss.backward()  # still part of the graph
    assert q.grad is not None


def _paper_configs():
    files = sorted(glob.glob(osp.join(ROOT, 'configs', 'ddavs_mitb5_*.py')))
    files += sorted(glob.glob(osp.join(ROOT, 'configs', 'ablations',
                                       '*.py')))
    assert len(files) >= 6
    return files


@pytest.mark.parametrize('path', _paper_configs(),
                         ids=lambda p: osp.basename(p))
def test_paper_configs_use_slot_negatives(path):
    cfg = Config.fromfile(path)
    head_cfg = cfg.model.get('contrastive_head')
    if head_cfg is None:  # Table 3 rows without COM
        return
    head = MODELS.build(head_cfg)
    assert head.negatives == 'slots'
