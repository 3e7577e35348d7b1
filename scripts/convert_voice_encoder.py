"""Convert Resemblyzer's speaker encoder into the numpy weights the bot ships, once.

Not run by the tests or the bot (it needs torch). How ``voice_encoder.npz`` was made:

    venv=$(mktemp -d)/v && python3 -m venv "$venv"
    "$venv/bin/pip" install resemblyzer==0.1.4 torch==2.13.0+cpu librosa webrtcvad-wheels
    "$venv/bin/python" scripts/convert_voice_encoder.py          # writes the two files below

It reads ``resemblyzer/pretrained.pt`` (Apache-2.0, Resemblyzer 0.1.4: the GE2E encoder, a
3-layer LSTM 40 -> 256, linear 256 -> 256, ReLU, L2 norm) and writes
- ``transcription/diarization/voice_encoder.npz``: the weights as float16 (the two LSTM
  biases of each layer summed), keys w_ih_i, w_hh_i, b_i (i = 0..2), linear_w, linear_b;
- ``tests/fixtures/voice_encoder_reference.npz``: reference outputs of the original torch
  model with librosa's frontend (Resemblyzer's own ``wav_to_mel_spectrogram``) on a few
  short clips cut from the speech fixtures, and librosa's mel filterbank, for
  tests/transcription/test_diarization_encoder.py.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import torch
from resemblyzer import VoiceEncoder, audio

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS = ROOT / "transcription" / "diarization" / "voice_encoder.npz"
REFERENCE = ROOT / "tests" / "fixtures" / "voice_encoder_reference.npz"
# (fixture, start s, length s): full 1.6 s windows and shorter ones, two voices.
CLIPS = [
    ("speech_01.ogg", 0.3, 1.6),
    ("speech_03.ogg", 2.0, 1.6),
    ("german_01.ogg", 1.0, 0.9),
]


def main() -> None:
    checkpoint = torch.load(
        Path(audio.__file__).with_name("pretrained.pt"), map_location="cpu", weights_only=False
    )
    state = checkpoint["model_state"]
    weights: dict[str, np.ndarray] = {}
    for i in range(3):
        weights[f"w_ih_{i}"] = state[f"lstm.weight_ih_l{i}"].numpy()
        weights[f"w_hh_{i}"] = state[f"lstm.weight_hh_l{i}"].numpy()
        weights[f"b_{i}"] = (state[f"lstm.bias_ih_l{i}"] + state[f"lstm.bias_hh_l{i}"]).numpy()
    weights["linear_w"] = state["linear.weight"].numpy()
    weights["linear_b"] = state["linear.bias"].numpy()
    np.savez_compressed(WEIGHTS, **{k: v.astype(np.float16) for k, v in weights.items()})

    encoder = VoiceEncoder("cpu", verbose=False)
    wavs, embeddings = [], []
    for name, start, length in CLIPS:
        wav, _ = librosa.load(ROOT / "tests" / "fixtures" / name, sr=16000)
        clip = wav[int(start * 16000) : int((start + length) * 16000)]
        # Stored as 16-bit samples: the reference is computed from exactly what is stored.
        pcm = np.round(np.clip(clip, -1, 1) * 32767).astype(np.int16)
        clip = pcm.astype(np.float32) / 32767
        mel = audio.wav_to_mel_spectrogram(clip)
        with torch.no_grad():
            embeddings.append(encoder(torch.from_numpy(mel[None])).numpy()[0])
        wavs.append(pcm)
    np.savez_compressed(
        REFERENCE,
        pcm=np.concatenate(wavs),
        lengths=np.array([len(w) for w in wavs]),
        embeddings=np.stack(embeddings).astype(np.float32),
        filterbank=librosa.filters.mel(sr=16000, n_fft=400, n_mels=40).astype(np.float32),
        versions=np.array([f"librosa {librosa.__version__}", f"torch {torch.__version__}"]),
    )


if __name__ == "__main__":
    main()
