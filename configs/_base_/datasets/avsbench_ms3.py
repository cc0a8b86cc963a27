# AVSBench-object MS3 (multi source): 5 frames per clip, 5 binary masks in
# every split. data_root holds ms3_meta_data.csv and ms3_data/{visual_frames,
# gt_masks,audio_wav}/ as in the AVSBench release ("Multi-sources" folder);
# frames are ms3_data/visual_frames/{vid}/{vid}.mp4_{k}.png.
# Pipelines, loaders and JFMetric('avsbench') as in avsbench_s4.py.
_base_ = ['./avsbench_s4.py']

dataset_type = 'AVSBenchMS3Dataset'
data_root = 'data/AVSBench/Multi-sources'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
