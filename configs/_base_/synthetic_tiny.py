# Data, schedule and runtime of the tiny CPU smoke configs (no model): the
# synthetic MS3 data set (64x64 frames, 16 kHz audio, 5 frames per clip,
# binary masks) and a 2-epoch AdamW schedule, on top of the repository's own
# base files. Used by configs/ddavs_tiny_synthetic_{s4,avss}.py (which swap
# the data set) and by projects/audio_aware_mmseg/configs/_base_/
# synthetic_ms3_tiny.py. Generate the data first, e.g.
#   python tools/dataset_converters/make_synthetic_avs.py --preset ms3 \
#       --out data/synthetic/ms3 --size 64
# No model here: it is combined with a model base (e.g.
# ./models/ddavs_tiny.py), so the audio rate is `wav_sample_rate` (the model
# bases own `audio_sample_rate`); it must match model.audio_encoder.frontend.
_base_ = [
    './datasets/avsbench_ms3.py', './schedules/schedule_ddavs.py',
    './default_runtime.py'
]

data_root = 'data/synthetic/ms3'
crop_size = (64, 64)  # (w, h)
wav_sample_rate = 16000  # must match model.audio_encoder.frontend

train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='ClipRandomFlip', prob=0.5),
    dict(type='WaveformAugment'),
    dict(type='PackAVSInputs'),
]
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate),
    dict(type='ClipResize', scale=crop_size),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='PackAVSInputs'),
]
# flip test-time augmentation (tools/test.py --tta, with tta_model)
tta_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadAudio', sample_rate=wav_sample_rate),
    dict(
        type='TestTimeAug',
        transforms=[
            [dict(type='ClipResize', scale=crop_size)],
            [dict(type='ClipRandomFlip', prob=0.),
             dict(type='ClipRandomFlip', prob=1.)],
            [dict(type='LoadClipMasks', mask_mode='binary')],
            [dict(type='PackAVSInputs')],
        ])
]
train_dataloader = dict(
    batch_size=2,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, mask_mode='binary',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, mask_mode='binary',
                 pipeline=test_pipeline))
test_dataloader = val_dataloader

max_epochs = 2
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs,
                 val_interval=1)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=1, eta_min=1e-6, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
]
optim_wrapper = dict(optimizer=dict(lr=1e-3))
# the best checkpoint is kept by J&F as in ./default_runtime.py
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(max_keep_ckpts=1))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo'))
