default_scope = 'ddavs_mm'

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=True),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # MMEngine's CheckpointHook with every save atomic (a kill at any
    # instant leaves a complete checkpoint named by last_checkpoint); the
    # best checkpoint by J&F (JFMetric's key, no prefix), higher is better:
    # MMEngine cannot infer the direction of 'J&F' (nor of 'auto' = 'J')
    checkpoint=dict(
        type='AtomicCheckpointHook', by_epoch=True, interval=1,
        max_keep_ckpts=3, save_best='J&F', rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # model, data, bank, pipelines, evaluator and save_best checked against
    # each other before the first step (ddavs_mm/engine/consistency_checks)
    consistency=dict(type='ConsistencyCheckHook'),
    # overlays of every `interval`-th clip during val/test (tools/test.py
    # --show-dir switches `draw` on and saves PNGs)
    visualization=dict(type='AVSVisualizationHook', draw=False, interval=50))

# add dict(type='TensorboardVisBackend') to log scalars and overlays to
# TensorBoard (tensorboard is installed with ddavs_mm)
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='AVSLocalVisualizer', vis_backends=vis_backends, name='visualizer',
    alpha=0.5, outline=True)

# test-time augmentation model of tools/test.py --tta (with tta_pipeline)
tta_model = dict(type='DDAVSTTAModel')

log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)

# DDP that also runs on CPU (gloo) for tools/dist_train.sh without a GPU.
# find_unused_parameters: the query stream of the last alignment block and
# the contrastive head (when a batch has no augmented audio) get no gradient.
model_wrapper_cfg = dict(
    type='DeviceAwareDistributedDataParallel', find_unused_parameters=True)
# generator states travel with checkpoints so a resumed run continues exactly
custom_hooks = [dict(type='RNGStateHook')]
