# Table 3 "Baseline": encoders + transformer blocks + decoder; no AQM (raw
# HTSAT tokens), no COM, no AVAM (baseline fusion: projected mean token added
# to the last MiT stage at the decoder input).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(
    audio_query=None,
    contrastive_head=None,
    alignment=dict(with_alignment=False))
