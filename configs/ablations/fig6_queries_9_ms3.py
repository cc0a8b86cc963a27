# Fig. 6: n = 9 audio queries.
_base_ = '../ddavs_mitb5_htsat_ms3.py'

model = dict(audio_query=dict(num_queries=9))
