# DDAVS (MiT-B5 + HTSAT) on AVSBench Objects MS3 (multi source), binary
# masks; the bank is built from single-source S4 audio.
# Paper setting: batch 64 = 8 GPUs x 8 clips, 224x224 frames.
_base_ = [
    './_base_/models/ddavs_mitb5_htsat.py',
    './_base_/datasets/avsbench_ms3.py',
    './_base_/schedules/schedule_ddavs.py', './_base_/default_runtime.py'
]

# dataset-specific prototype bank ([C, K, 768]); a missing file is an
# error; build it with tools/build_prototype_bank.py or set
# model.audio_query.bank=None
bank_file = 'data/banks/avsbench_s4_htsat_k5.npy'
num_classes = 1
model = dict(
    mask_mode='binary',
    num_classes=num_classes,
    audio_query=dict(
        bank=dict(type='PrototypeBank', bank_path=bank_file)),
    decode_head=dict(mask_decoder=dict(num_classes=num_classes)))

train_dataloader = dict(batch_size=8)  # per GPU; x 8 GPUs = 64
