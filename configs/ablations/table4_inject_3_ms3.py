# Table 4: audio injected into MiT blocks 3 (paper, 1-based) =
# stages (2,) (0-based).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(inject_stages=(2,)))
