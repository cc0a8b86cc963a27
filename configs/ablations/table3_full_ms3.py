# Table 3 "DDAVS (Ours)": AQM + COM + AVAM (= the public MS3 config).
_base_ = '../ddavs_mitb5_htsat_ms3.py'

