# Table 3 "Baseline" with the audio fused by transformer blocks: an
# audio-conditioned transformer layer (visual self-attention, cross-attention
# to the audio, FFN) where AVAM's blocks would be (stages 2, 3), instead of
# the default bias on F4. See docs/design.md.
_base_ = './table3_baseline_ms3.py'

model = dict(alignment=dict(baseline_fusion='blocks'))
