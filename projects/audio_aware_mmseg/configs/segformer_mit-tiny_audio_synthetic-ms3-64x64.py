# SegFormer exactly as mmseg ships it -- mmseg's MixVisionTransformer encoder
# and mmseg's own SegformerHead as the mask decoder -- made audio-aware by
# config only, with DDAVS parts:
#   HTSATAudioEncoder -> AudioQueryModule (no prototype bank here)
#   -> CrossAlignmentBlocks on pyramid levels 2 and 3 at the decoder input
#      (StageAlignment, fusion_position='head')
#   -> mmseg SegformerHead (logits at 1/4 of the frame, upsampled by DDAVS).
# The audio side (HTSAT, Q-Former AQM, contrastive head), the data
# preprocessor and the AVS losses come from the repo's tiny DDAVS config.
_base_ = [
    '../../../configs/_base_/models/ddavs_tiny.py',
    './_base_/synthetic_ms3_tiny.py'
]

model = dict(
    # mmseg's MiT (the SegFormer encoder), tiny: 16-32-80-128 channels.
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=16,
        num_stages=4,
        num_layers=[1, 1, 1, 1],
        num_heads=[1, 2, 5, 8],
        patch_sizes=[7, 3, 3, 3],
        sr_ratios=[8, 4, 2, 1],
        out_indices=(0, 1, 2, 3),
        mlp_ratio=4,
        drop_path_rate=0.0),
    # Cross Alignment Blocks on the levels 2, 3 at the decode head's input:
    # the backbone runs untouched.
    alignment=dict(
        _delete_=True,
        type='StageAlignment',  # in_channels: decode_head's
        query_channels=64,  # = model.audio_query.embed_dims
        inject_stages=(2, 3),
        fusion_position='head',
        norm_position='pre',
        with_alignment=True,
        block_cfg=dict(num_heads=None, ffn_ratio=2.0)),
    decode_head=dict(
        _delete_=True,
        type='DelayedAVAMDecoder',
        in_channels=[16, 32, 80, 128],  # the backbone's pyramid
        # mmseg's SegformerHead, unchanged. Binary AVS masks: one logit map
        # (num_classes=1, out_channels=1, threshold=0.5 as mmseg expects).
        # DDAVS computes the losses itself; the head's loss_decode is unused.
        mask_decoder=dict(
            type='SegformerHead',
            in_index=[0, 1, 2, 3],
            channels=64,
            num_classes=1,
            out_channels=1,
            threshold=0.5,
            dropout_ratio=0.1,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False)))
