# DDAVS schedule: AdamW lr 1e-4, weight decay 0.05, linear warm-up then
# cosine decay, epoch based (DDESeg priors: 2 warm-up epochs, 120-150 epochs).
max_epochs = 120
warmup_epochs = 2
base_lr = 1e-4

# MergedParamGroupsConstructor: mmengine's paramwise rules, with the
# per-parameter groups they create merged where their options are equal
# (a shorter optimizer step; ddavs_mm/engine/optimizers/).
optim_wrapper = dict(
    type='OptimWrapper',
    constructor='MergedParamGroupsConstructor',
    # fused=True: torch's single-kernel AdamW step; off until measured on a
    # GPU (tools/analysis/benchmark_train.py --fused-adamw)
    optimizer=dict(
        type='AdamW', lr=base_lr, betas=(0.9, 0.999), weight_decay=0.05,
        fused=False),
    clip_grad=None,
    paramwise_cfg=dict(
        norm_decay_mult=0.0,
        bias_decay_mult=0.0,
        custom_keys=dict(query_embeds=dict(decay_mult=0.0))))

param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=True,
        begin=0,
        end=warmup_epochs,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - warmup_epochs,
        eta_min=1e-6,
        by_epoch=True,
        begin=warmup_epochs,
        end=max_epochs,
        convert_to_iter_based=True),
]

train_cfg = dict(
    type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=5)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# The paper trains with batch 64 on 8 GPUs (8 clips per GPU); lr scales with
# `--auto-scale-lr` from this base.
auto_scale_lr = dict(enable=False, base_batch_size=64)
