"""Install-level behaviour: mmcv-lite stand-in, safe checkpoint loading,
CPU distributed helpers, audio-intervention permutation."""
import io
import os
import pickle

import numpy as np
import pytest
import torch

import ddavs_mm  # noqa: F401  (installs the stub and the safe globals)
from ddavs_mm.datasets.audio_intervention_dataset import derangement
from ddavs_mm.utils.mmcv_compat import (MissingCompiledOpError,
                                        has_compiled_mmcv_ops)


def test_mmseg_models_import_and_compiled_op_error_names_the_fix():
    import mmseg.models  # noqa: F401  (fails on mmcv._ext without the stub)
    if has_compiled_mmcv_ops():
        pytest.skip('full mmcv installed: the stand-in is not used')
    from mmcv.ops import sigmoid_focal_loss
    with pytest.raises(MissingCompiledOpError) as err:
        sigmoid_focal_loss(
            torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), 2.0, 0.25,
            None, 'mean')
    msg = str(err.value)
    assert 'sigmoid_focal_loss_forward' in msg
    assert 'mmcv==2.1.0' in msg and 'MMCV_WITH_OPS=1' in msg


def test_mmengine_sees_no_full_mmcv_under_the_stand_in():
    from mmengine.utils.dl_utils import mmcv_full_available
    assert mmcv_full_available() == has_compiled_mmcv_ops()


def _mmengine_like_checkpoint() -> dict:
    from mmengine.logging import HistoryBuffer
    buf = HistoryBuffer()
    buf.update(np.float64(0.5))
    buf.update(1.25)
    return dict(
        meta=dict(epoch=2, iter=10, seed=np.int64(3)),
        state_dict={'w': torch.ones(2)},
        message_hub=dict(log_scalars={'train/loss': buf}),
        rng_state=dict(numpy=np.random.get_state()))


def test_weights_only_load_accepts_mmengine_checkpoint_types():
    stream = io.BytesIO()
    torch.save(_mmengine_like_checkpoint(), stream)
    stream.seek(0)
    ckpt = torch.load(stream, weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert buf.mean() == pytest.approx((0.5 + 1.25) / 2)
    assert buf.current() == pytest.approx(1.25)
    assert buf.max_length == 1000000
    assert ckpt['meta']['seed'] == 3
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_arbitrary_function_globals_are_refused():
    stream = io.BytesIO()
    torch.save({'f': getattr(os, 'getcwd')}, stream)
    stream.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(stream, weights_only=True)


class _Payload:
    """An arbitrary class: weights-only loading must still refuse it."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_weights_only_load_still_refuses_arbitrary_globals():
    stream = io.BytesIO()
    torch.save({'evil': _Payload()}, stream, pickle_protocol=2)
    stream.seek(0)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(stream, weights_only=True)


@pytest.mark.parametrize('n,seed', [(2, 0), (5, 1), (17, 3), (100, 7)])
def test_derangement_has_no_fixed_points(n, seed):
    perm = derangement(n, seed)
    assert sorted(perm.tolist()) == list(range(n))
    assert (perm != np.arange(n)).all()
    assert np.array_equal(perm, derangement(n, seed))


def test_derangement_rejects_single_clip():
    with pytest.raises(ValueError, match='at least 2 clips'):
        derangement(1, 0)


def test_device_aware_ddp_wraps_cpu_model_without_device_ids(tmp_path):
    import torch.distributed as dist
    from mmengine.model import MMDistributedDataParallel
    from mmengine.registry import MODEL_WRAPPERS
    dist.init_process_group(
        'gloo', init_method=f'file://{tmp_path}/store', rank=0, world_size=1)
    try:
        wrapper = MODEL_WRAPPERS.build(
            dict(type='DeviceAwareDistributedDataParallel'),
            default_args=dict(module=torch.nn.Linear(3, 2)))
        assert isinstance(wrapper, MMDistributedDataParallel)
        assert wrapper.device_ids is None
        out = wrapper(torch.ones(4, 3))
        assert out.shape == (4, 2)
    finally:
        dist.destroy_process_group()
