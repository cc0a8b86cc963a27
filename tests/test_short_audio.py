"""LoadAudio on audio shorter than its clip: zero-padded with a warning that
names the file and the missing seconds (default), an error on request."""
import warnings

import numpy as np
import pytest
import soundfile as sf

from ddavs_mm.datasets.transforms.audio import LoadAudio, ShortAudioWarning
from ddavs_mm.utils.tool_errors import InputError

SR = 8000


def wav(tmp_path, seconds, name='a.wav', value=0.25):
    path = str(tmp_path / name)
    sf.write(path, np.full(int(round(seconds * SR)), value, np.float32), SR)
    return path


def load(path, T=5, **kwargs):
    results = dict(clip_id='c', audio_paths=[path], num_frames=T)
    results.update(kwargs.pop('results', {}))
    return LoadAudio(sample_rate=SR, **kwargs)(results)


def test_short_file_warns_with_file_and_missing_seconds_and_pads(tmp_path):
    path = wav(tmp_path, 3.5)
    with pytest.warns(ShortAudioWarning) as record:
        out = load(path)['waveform']
    assert len(record) == 1
    assert str(record[0].message) == (
        f'{path}: audio ends 1.50 s before the 5.00 s its clip needs from '
        f'0.00 s; zero-padded (LoadAudio short_audio="error" refuses such '
        f'files)')
    assert out.shape == (5 * SR, )
    np.testing.assert_allclose(out[:int(3.5 * SR)], 0.25, atol=1e-4)
    assert not out[int(3.5 * SR):].any()


def test_offset_and_duration_window(tmp_path):
    path = wav(tmp_path, 4.0)
    # the window 2..4 s of a 4-s file is complete
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load(path, T=2, results=dict(audio_offset=2.0, audio_duration=2.0))
    # 3..5 s lacks one second
    with pytest.warns(ShortAudioWarning, match='audio ends 1.00 s before '
                      r'the 2.00 s its clip needs from 3.00 s'):
        load(path, T=2, results=dict(audio_offset=3.0, audio_duration=2.0))


def test_error_and_ignore_modes(tmp_path):
    path = wav(tmp_path, 2.0)
    with pytest.raises(InputError) as err:
        load(path, short_audio='error')
    assert str(err.value) == (
        f'{path}: audio ends 3.00 s before the 5.00 s its clip needs from '
        f'0.00 s (use a complete file, or LoadAudio short_audio="warn" to '
        f'zero-pad it)')
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = load(path, short_audio='ignore')['waveform']
    assert out.shape == (5 * SR, ) and not out[2 * SR:].any()
    with pytest.raises(ValueError, match='short_audio must be one of'):
        LoadAudio(short_audio='pad')


def test_rounding_shortfall_within_tolerance_is_silent(tmp_path):
    path = wav(tmp_path, 4.97)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load(path)  # 0.03 s < the 0.05 s default tolerance
        with pytest.raises(InputError):
            load(path, short_audio='error', short_audio_tolerance=0.01)


def test_padded_and_unsampled_frames_need_no_audio(tmp_path):
    path = wav(tmp_path, 5.0)
    # an AVSS v1 clip: 5 real frames padded to 10 (empty frame paths)
    paths = [f'f{i}.jpg' for i in range(5)] + [''] * 5
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = load(path, T=10, results=dict(frame_paths=paths))
    assert out['waveform'].shape == (10 * SR, )
    # ClipSampleFrames kept frames 0 and 2 of 5: 3 s of audio suffice
    short = wav(tmp_path, 3.0, name='short.wav')
    kept = dict(frame_indices=[0, 2], clip_num_frames=5, num_frames=2,
                frame_paths=['f0.jpg', 'f2.jpg'])
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        out = load(short, T=2, results=kept)['waveform']
    assert out.shape == (2 * SR, )
    # ... frame 4 needs the fifth second
    kept.update(frame_indices=[0, 4], frame_paths=['f0.jpg', 'f4.jpg'])
    with pytest.warns(ShortAudioWarning, match='audio ends 2.00 s before '
                      'the 5.00 s'):
        out = load(short, T=2, results=kept)['waveform']
    assert not out[SR:].any()  # the second kept segment is padding
