# Fig. 6: n = 1 audio queries. COM's negatives are the other query slots of
# the same sample (Eq. 6, the default), so with one slot L_con has a single
# candidate and is identically 0.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(audio_query=dict(num_queries=1))
