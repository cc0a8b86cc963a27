# DDAVS with each Cross Alignment Block placed after the patch embedding of
# its MiT stage, before the stage's transformer layers ("injecting audio
# information before the last two transformer blocks", Sec. 4.4), instead of
# on the stage's output (the default). See docs/design.md.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(encoder_position='before_blocks'))
