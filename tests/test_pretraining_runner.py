"""The Runner set-up of the encoder pretrainings."""
import io
import types

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.optim import OptimWrapper
from mmengine.optim.scheduler import OneCycleLR

import ddavs_mm  # noqa: F401  (checkpoint safety, registries)
from ddavs_mm.engine import ResumableOneCycleLR
from ddavs_mm.engine.pretraining_runner import epoch_means, pretraining_config


def _lrs(cls, steps=20):
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.AdamW([param], lr=1e-3))
    sched = cls(optim, eta_max=1e-3, total_steps=steps, by_epoch=False)
    out = []
    for _ in range(steps):
        out.append(optim.param_groups[0]['lr'])
        optim.step()
        sched.step()
    return out, sched


def test_resumable_one_cycle_is_one_cycle_and_saves_safely():
    ours, sched = _lrs(ResumableOneCycleLR)
    assert ours == _lrs(OneCycleLR)[0]
    assert max(ours) == pytest.approx(1e-3) and ours[0] == pytest.approx(4e-5)
    # the state dict loads with weights_only=True; MMEngine's does not
    for state, ok in ((sched.state_dict(), True),
                      (_lrs(OneCycleLR)[1].state_dict(), False)):
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        if ok:
            loaded = torch.load(buf, weights_only=True)
            assert 'anneal_func' not in loaded
        else:
            with pytest.raises(Exception, match='getattr'):
                torch.load(buf, weights_only=True)
    # a fresh scheduler takes the state and continues the same curve
    param = torch.nn.Parameter(torch.zeros(1))
    optim = OptimWrapper(torch.optim.AdamW([param], lr=1e-3))
    fresh = ResumableOneCycleLR(optim, eta_max=1e-3, total_steps=20,
                                by_epoch=False)
    fresh.load_state_dict(sched.state_dict())
    assert fresh.last_step == sched.last_step
    assert fresh.anneal_func is not None


def test_epoch_means_weights_the_short_last_batch():
    """10 samples in batches of 4, 4, 2 for two epochs."""
    hub = MessageHub.get_instance('test_epoch_means')
    for v in [1.0, 2.0, 4.0, 0.0, 0.5, 3.0]:
        hub.update_scalar('train/loss', v)
    runner = types.SimpleNamespace(message_hub=hub)
    means = epoch_means(runner, 'loss', num_samples=10, batch_size=4)
    assert means == pytest.approx([(4 * 1 + 4 * 2 + 2 * 4) / 10,
                                   (4 * 0 + 4 * 0.5 + 2 * 3) / 10])


def test_pretraining_config():
    cfg = pretraining_config(
        dict(type='AudioTaggingPretrainer'), dict(type='AudioSecondsDataset'),
        '/tmp/wd', epochs=30, batch_size=64,
        optimizer=dict(type='AdamW', lr=3e-3), seed=5,
        cfg_options={'default_hooks.logger.interval': 7})
    assert cfg.train_cfg.max_epochs == 30
    assert cfg.train_dataloader.batch_size == 64
    assert cfg.param_scheduler.type == 'ResumableOneCycleLR'
    assert cfg.param_scheduler.eta_max == 3e-3
    assert cfg.param_scheduler.end == 30
    assert cfg.default_hooks.checkpoint.interval == 10  # 3 checkpoints
    assert cfg.default_hooks.logger.interval == 7
    assert cfg.randomness.seed == 5
    with pytest.raises(ValueError, match='epochs'):
        pretraining_config({}, {}, '/tmp/wd', 0, 4, dict(lr=1.0))
