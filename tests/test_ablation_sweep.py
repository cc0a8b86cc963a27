"""tools/analysis/ablation_sweep.py: carrying an ablation over to another
base config, and shortening a schedule with the same shape."""
import glob
import importlib.util
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
spec = importlib.util.spec_from_file_location(
    'ablation_sweep', osp.join(ROOT, 'tools', 'analysis', 'ablation_sweep.py'))
sweep = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sweep)

TINY = osp.join(ROOT, 'configs', 'ddavs_tiny_synthetic_ms3.py')
ABLATIONS = osp.join(ROOT, 'configs', 'ablations')


def test_model_delta_by_hand():
    ref = dict(a=1, b=dict(c=2, d=(1, 2)), e=dict(f=1, g=2))
    changed = dict(a=1, b=dict(c=3, d=(1, 2)), e=dict(f=1), h=None)
    assert sweep.model_delta(changed, ref) == dict(
        b=dict(c=3), e=dict(_delete_=True, f=1), h=None)
    assert sweep.model_delta(ref, ref) == {}


@pytest.mark.parametrize('name, expected', [
    ('table3_baseline_ms3', dict(audio_query=None, contrastive_head=None,
                                 alignment=dict(with_alignment=False))),
    ('table4_inject_1_ms3', dict(alignment=dict(inject_stages=(0,)))),
    ('fig6_queries_1_ms3', dict(audio_query=dict(num_queries=1))),
    ('table3_full_ms3', {}),
])
def test_ablation_overrides_of_paper_configs(name, expected):
    delta = sweep.ablation_overrides(
        osp.join(ABLATIONS, name + '.py'), sweep.DEFAULT_REFERENCE)
    assert delta == expected


def test_every_ablation_carries_over_to_the_tiny_config():
    """Each ablation builds on the tiny config with its change applied."""
    for path in sorted(glob.glob(osp.join(ABLATIONS, '*.py'))):
        cfg = sweep.build_run_config(TINY, path, sweep.DEFAULT_REFERENCE,
                                     seed=3, epochs=None)
        delta = sweep.ablation_overrides(path, sweep.DEFAULT_REFERENCE)
        assert cfg.randomness.seed == 3
        tiny = Config.fromfile(TINY)
        for key, value in delta.items():
            if not isinstance(value, dict):
                assert cfg.model[key] == value, (path, key)
            else:
                for sub, v in value.items():
                    if sub != '_delete_' and not isinstance(v, dict):
                        assert sweep._plain(cfg.model[key][sub]) == v
        # what the ablation does not change stays the tiny config's
        assert cfg.model.backbone.embed_dims == tiny.model.backbone.embed_dims
        assert cfg.train_dataloader == tiny.train_dataloader


def test_changes_outside_the_model_are_refused(tmp_path):
    bad = tmp_path / 'abl.py'
    bad.write_text(f"_base_ = '{sweep.DEFAULT_REFERENCE}'\n"
                   'train_dataloader = dict(batch_size=3)\n')
    with pytest.raises(ValueError, match='train_dataloader'):
        sweep.ablation_overrides(str(bad), sweep.DEFAULT_REFERENCE)


def test_shorten_schedule_keeps_the_warmup_and_the_cosine_shape():
    cfg = Config.fromfile(TINY)
    assert cfg.train_cfg.max_epochs == 30
    sweep.shorten_schedule(cfg, 10)
    warm, cos = cfg.param_scheduler
    assert (warm.begin, warm.end) == (0, 2)
    assert (cos.begin, cos.end, cos.T_max) == (2, 10, 8)
    assert cfg.train_cfg.max_epochs == cfg.train_cfg.val_interval == 10
    assert cfg.default_hooks.checkpoint.interval == 10
    with pytest.raises(ValueError, match='warm-up'):
        sweep.shorten_schedule(Config.fromfile(TINY), 2)


def test_summary_table_means_and_spread():
    results = {'row': {0: dict(metrics=dict(J=60.0, F=70.0)),
                       1: dict(metrics=dict(J=70.0, F=80.0))}}
    table = sweep.summarize(results)
    # mean 0.65, sample sd of (0.6, 0.7) = 0.0707
    assert '| row | 2 | 0.650 ± 0.071 | 0.750 ± 0.071 | 0.600 / 0.700 |' \
        in table


def test_base_options_come_before_the_ablation():
    cfg = sweep.build_run_config(
        TINY, osp.join(ABLATIONS, 'fig6_queries_1_ms3.py'),
        sweep.DEFAULT_REFERENCE, seed=0, epochs=None,
        base_options={'model.contrastive_head.negatives': 'slots',
                      'model.audio_query.num_queries': 7})
    assert cfg.model.contrastive_head.negatives == 'slots'
    assert cfg.model.audio_query.num_queries == 1  # the ablation's value
