"""The numpy voice encoder and mel frontend against the original Resemblyzer (torch, librosa).

The reference (tests/fixtures/voice_encoder_reference.npz) was computed once with the
original model by scripts/convert_voice_encoder.py: three short clips of the speech fixtures
as 16-bit samples, their embeddings, and librosa's mel filterbank.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from transcription.diarization import DiarizationUnavailable
from transcription.diarization.encoder import VoiceEncoder
from transcription.diarization.frontend import MelFrontend, mel_filterbank, normalize_volume

REFERENCE = Path(__file__).resolve().parent.parent / "fixtures" / "voice_encoder_reference.npz"


@pytest.fixture(scope="module")
def reference() -> dict[str, np.ndarray]:
    with np.load(REFERENCE) as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    return VoiceEncoder.load()


def clips(reference: dict[str, np.ndarray]) -> list[np.ndarray]:
    offsets = np.concatenate([[0], np.cumsum(reference["lengths"])])
    pcm = reference["pcm"]
    return [pcm[a:b].astype(np.float32) / 32767 for a, b in itertools.pairwise(offsets)]


def test_filterbank_matches_librosa(reference: dict[str, np.ndarray]) -> None:
    np.testing.assert_allclose(mel_filterbank(), reference["filterbank"], rtol=1e-5, atol=1e-8)


def test_embeddings_match_the_torch_model(
    reference: dict[str, np.ndarray], encoder: VoiceEncoder
) -> None:
    frontend = MelFrontend()
    for clip, expected in zip(clips(reference), reference["embeddings"], strict=True):
        got = encoder.embed(frontend.frames(clip)[None])[0]
        assert float(got @ expected) > 0.9999
        np.testing.assert_allclose(got, expected, atol=2e-3)
        assert np.linalg.norm(got) == pytest.approx(1.0, abs=1e-5)


def test_batched_equals_one_by_one(reference: dict[str, np.ndarray], encoder: VoiceEncoder) -> None:
    frontend = MelFrontend()
    mels = np.stack([frontend.frames(clip)[:90] for clip in clips(reference)])
    batched = encoder.embed(mels)
    for row, mel in zip(batched, mels, strict=True):
        np.testing.assert_allclose(row, encoder.embed(mel[None])[0], atol=1e-5)


def test_volume_is_raised_never_lowered() -> None:
    quiet = np.full(1600, 0.001, dtype=np.float32)
    loud = np.full(1600, 0.5, dtype=np.float32)
    raised = normalize_volume(quiet)
    assert 20 * np.log10(np.sqrt(np.mean(raised**2))) == pytest.approx(-30.0, abs=0.1)
    assert np.array_equal(normalize_volume(loud), loud)
    assert normalize_volume(np.zeros(10, dtype=np.float32)).max() == 0.0


def test_missing_weights_are_reported_in_one_line() -> None:
    with pytest.raises(DiarizationUnavailable, match="lack") as caught:
        VoiceEncoder({"w_ih_0": np.zeros((1024, 40), dtype=np.float16)})
    assert "\n" not in str(caught.value)


def test_long_audio_frames_are_computed_a_minute_at_a_time_without_seams(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from transcription.diarization import frontend as frontend_module

    noise = np.random.default_rng(0).normal(scale=0.1, size=16000 * 65).astype(np.float32)
    chunked = MelFrontend().frames(noise)
    monkeypatch.setattr(frontend_module, "_FRAMES_AT_ONCE", 10**9)
    whole = MelFrontend().frames(noise)
    assert chunked.shape == whole.shape == (1 + len(noise) // 160, 40)
    np.testing.assert_allclose(chunked, whole, rtol=1e-5)
