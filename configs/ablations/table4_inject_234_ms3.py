# Table 4: audio injected into MiT blocks 2,3,4 (paper, 1-based) =
# stages (1, 2, 3) (0-based).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(alignment=dict(inject_stages=(1, 2, 3)))
