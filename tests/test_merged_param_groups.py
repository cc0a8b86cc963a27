"""MergedParamGroupsConstructor: mmengine's paramwise options per parameter,
in as few param groups as those options allow."""
import torch
import torch.nn as nn
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

from ddavs_mm.engine import merge_param_groups

PARAMWISE = dict(norm_decay_mult=0.0, bias_decay_mult=0.0,
                 custom_keys=dict(head=dict(lr_mult=0.1)))


class Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 4, 3, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, 3)
        self.head = nn.Linear(3, 1)

    def forward(self, x):
        x = self.bn(self.conv(x)).mean((2, 3))
        return self.head(self.fc(x))


def _wrapper(model, constructor=None):
    cfg = dict(type='OptimWrapper',
               optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.1),
               paramwise_cfg=PARAMWISE)
    if constructor:
        cfg['constructor'] = constructor
    with DefaultScope.overwrite_default_scope('ddavs_mm'):
        return build_optim_wrapper(model, cfg)


def _options(optimizer):
    return {id(p): {k: v for k, v in g.items() if k != 'params'}
            for g in optimizer.param_groups for p in g['params']}


def test_merge_param_groups_hand_case():
    a, b, c, d = (torch.zeros(1) for _ in range(4))
    groups = [dict(params=[a], lr=1., weight_decay=0.),
              dict(params=[b], lr=1., weight_decay=.1),
              dict(params=[c], lr=1., weight_decay=0.),
              dict(params=[d], lr=.1, weight_decay=.1)]
    merged = merge_param_groups(groups)
    assert [[id(p) for p in g['params']] for g in merged] == \
        [[id(a), id(c)], [id(b)], [id(d)]]
    assert [(g['lr'], g['weight_decay']) for g in merged] == \
        [(1., 0.), (1., .1), (.1, .1)]


def test_same_options_per_parameter_fewer_groups_same_step():
    torch.manual_seed(0)
    net = Net()
    twin = Net()
    twin.load_state_dict(net.state_dict())
    default = _wrapper(net)
    merged = _wrapper(twin, 'MergedParamGroupsConstructor')
    assert len(default.optimizer.param_groups) == 7  # one per tensor
    # decayed at lr (conv, fc.weight); not decayed at lr (bn, fc.bias);
    # decayed at lr/10 (head.*: mmengine's custom_keys take precedence over
    # bias_decay_mult)
    assert len(merged.optimizer.param_groups) == 3
    assert [len(g['params']) for g in merged.optimizer.param_groups] == \
        [2, 3, 2]
    opts_default = _options(default.optimizer)
    opts_merged = _options(merged.optimizer)
    for p, q in zip(net.parameters(), twin.parameters()):
        assert opts_default[id(p)] == opts_merged[id(q)]
    assert opts_merged[id(twin.head.weight)]['lr'] == 1e-3
    assert opts_merged[id(twin.bn.weight)]['weight_decay'] == 0.0
    x = torch.randn(5, 2, 6, 6)
    for _ in range(3):
        for model, wrapper in ((net, default), (twin, merged)):
            wrapper.update_params(model(x).pow(2).mean())
    for p, q in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(p, q)


def test_without_paramwise_cfg_it_is_the_default():
    net = Net()
    with DefaultScope.overwrite_default_scope('ddavs_mm'):
        wrapper = build_optim_wrapper(net, dict(
            type='OptimWrapper', constructor='MergedParamGroupsConstructor',
            optimizer=dict(type='SGD', lr=0.1)))
    assert len(wrapper.optimizer.param_groups) == 1
    assert len(wrapper.optimizer.param_groups[0]['params']) == 7
