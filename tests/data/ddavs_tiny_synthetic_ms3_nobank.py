# The tiny synthetic MS3 config without the main job's artefacts (pretrained
# tiny HTSAT and MiT, prototype bank): random weights, no bank. For tests
# only.
_base_ = ['../../configs/ddavs_tiny_synthetic_ms3.py']
model = dict(
    audio_encoder=dict(pretrained=None), audio_query=dict(bank=None),
    backbone=dict(init_cfg=None),
    decode_head=dict(mask_decoder=dict(init_cfg=None)))
