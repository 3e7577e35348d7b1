"""The speaker encoder's input: 40-channel mel power spectrograms, as Resemblyzer computes them
with librosa (16 kHz, 25 ms Hann window, 10 ms hop, centred frames padded with zeros, power 2,
Slaney mel scale and area normalisation, 0-8 kHz), reimplemented with numpy only."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
TARGET_DBFS = -30.0  # Resemblyzer's volume normalisation (increase only)
_INT16_MAX = 2**15 - 1
_SLICE = 1 << 20  # samples summed at once
_FRAMES_AT_ONCE = 6000  # one minute of frames: bounds the STFT's temporary arrays

FloatArray = npt.NDArray[np.float32]


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa's htk=False)."""
    f_sp = 200.0 / 3
    mels = hz / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = hz >= min_log_hz
    mels[log_part] = min_log_mel + np.log(hz[log_part] / min_log_hz) / logstep
    return mels


def _mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The inverse of :func:`_hz_to_mel`."""
    f_sp = 200.0 / 3
    hz = f_sp * mels
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    log_part = mels >= min_log_mel
    hz[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return hz


def mel_filterbank(
    sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS
) -> npt.NDArray[np.float64]:
    """The (n_mels, 1 + n_fft // 2) triangular filterbank of ``librosa.filters.mel`` with its
    defaults (fmin 0, fmax sr/2, htk=False, norm='slaney')."""
    fft_freqs = np.linspace(0.0, sample_rate / 2, 1 + n_fft // 2)
    edges = np.array([0.0, sample_rate / 2])
    mel_edges = _hz_to_mel(edges.copy())
    mel_f = _mel_to_hz(np.linspace(mel_edges[0], mel_edges[1], n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels])
    result: npt.NDArray[np.float64] = weights * enorm[:, None]
    return result


def hann_window(n: int = N_FFT) -> npt.NDArray[np.float64]:
    """The periodic Hann window (scipy's ``get_window('hann', n)``, librosa's default)."""
    result: npt.NDArray[np.float64] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)
    return result


def normalize_volume(wav: FloatArray, target_dbfs: float = TARGET_DBFS) -> FloatArray:
    """Scale ``wav`` up (never down) so that its RMS is ``target_dbfs``, as Resemblyzer's
    preprocessing does: the mel spectrogram is not logarithmic, so the level matters."""
    if wav.size == 0:
        return wav
    # Summed in slices: a float64 copy of an hour's audio would be 460 MB.
    squares = sum(
        float(np.sum(np.square(wav[i : i + _SLICE], dtype=np.float64)))
        for i in range(0, wav.size, _SLICE)
    )
    rms = float(np.sqrt(squares / wav.size)) * _INT16_MAX
    if rms <= 0.0:
        return wav
    change = target_dbfs - 20 * np.log10(rms / _INT16_MAX)
    if change <= 0:
        return wav
    return (wav * np.float32(10 ** (change / 20))).astype(np.float32)


class MelFrontend:
    """Computes mel frames; holds the filterbank and window so each call only does the work."""

    def __init__(self) -> None:
        self._basis = mel_filterbank().astype(np.float32)
        self._window = hann_window().astype(np.float32)

    def frames(self, wav: FloatArray) -> FloatArray:
        """Mel power frames of ``wav`` (16 kHz): shape (1 + len(wav) // 160, 40), float32,
        frame ``i`` centred on sample ``160 * i`` (librosa's ``center=True``)."""
        n_frames = 1 + len(wav) // HOP
        mel = np.empty((n_frames, N_MELS), dtype=np.float32)
        half = N_FFT // 2
        # A minute at a time, each slice padded on its own: neither a padded copy of the
        # whole audio nor the spectrum of an hour at once (over 1 GB) is ever held.
        for first in range(0, n_frames, _FRAMES_AT_ONCE):
            last = min(n_frames, first + _FRAMES_AT_ONCE)
            lo, hi = first * HOP - half, (last - 1) * HOP + half
            piece = wav[max(0, lo) : min(len(wav), hi)].astype(np.float32)
            piece = np.pad(piece, (max(0, -lo), max(0, hi - len(wav))), mode="constant")
            strides = (piece.strides[0] * HOP, piece.strides[0])
            framed = np.lib.stride_tricks.as_strided(piece, (last - first, N_FFT), strides)
            spectrum = np.fft.rfft(framed * self._window, axis=1)
            power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)
            mel[first:last] = power @ self._basis.T
        return mel
