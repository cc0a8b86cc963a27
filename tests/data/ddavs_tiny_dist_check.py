# Tiny synthetic config for the "2 processes x batch b == 1 process x batch
# 2b" test: SGD (the update is linear in the gradient), no random
# augmentation (ranks share one seed), GroupNorm instead of BatchNorm in the
# decoder (BN statistics are per process). For tests only.
_base_ = ['./ddavs_tiny_synthetic_ms3_nobank.py']
optim_wrapper = dict(
    optimizer=dict(
        _delete_=True, type='SGD', lr=0.05, momentum=0.0, weight_decay=0.0))
model = dict(
    decode_head=dict(
        mask_decoder=dict(norm_cfg=dict(type='GN', num_groups=8))))
train_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=16000),
    dict(type='ClipResize', scale=(64, 64)),
    dict(type='PackAVSInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
# evaluated at the frame size it trains at
test_pipeline = [
    dict(type='LoadClipFrames'),
    dict(type='LoadClipMasks', mask_mode='binary'),
    dict(type='LoadAudio', sample_rate=16000),
    dict(type='ClipResize', scale=(64, 64)),
    dict(type='PackAVSInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# compare the trained weights themselves, not their moving average
custom_hooks = [dict(type='RNGStateHook')]
