# Tiny DDAVS on the synthetic S4 data set (CPU smoke training): tiny MiT,
# narrow 2-stage HTSAT at 16 kHz, 1-layer Q-Former (width 64), 64x64 frames,
# binary masks. Generate the data first:
#   python tools/dataset_converters/make_synthetic_avs.py --preset s4 \
#       --out data/synthetic/s4 --size 64
# Pipelines, loaders, 2-epoch schedule and runtime come from
# ./_base_/synthetic_tiny.py; only the data set differs.
_base_ = ['./_base_/models/ddavs_tiny.py', './_base_/synthetic_tiny.py']

dataset_type = 'AVSBenchS4Dataset'
data_root = 'data/synthetic/s4'

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
