"""Resemblyzer's speaker encoder evaluated with numpy: a 3-layer LSTM (40 -> 256) over mel
frames, its last hidden state through a linear layer (256 -> 256) and a ReLU, L2-normalised.

The weights come from Resemblyzer 0.1.4's ``pretrained.pt`` (Apache-2.0), converted once by
``scripts/convert_voice_encoder.py`` into ``voice_encoder.npz`` (float16) beside this module.
"""

from __future__ import annotations

import io
from importlib import resources

import numpy as np
import numpy.typing as npt

from transcription.diarization.types import DiarizationUnavailable

WEIGHTS_FILE = "voice_encoder.npz"
LAYERS = 3
HIDDEN = 256
BATCH = 128  # windows per LSTM pass: bounds the memory of the gate pre-activations

FloatArray = npt.NDArray[np.float32]


def _sigmoid(x: FloatArray) -> FloatArray:
    """The logistic function through tanh: no overflow warnings for large negative inputs."""
    result: FloatArray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return result


class VoiceEncoder:
    """Maps mel frame sequences to 256-d unit-norm voice embeddings. Read-only after
    construction, hence safe to use from several threads at once."""

    def __init__(self, weights: dict[str, FloatArray]) -> None:
        try:
            self._w_ih = [weights[f"w_ih_{i}"].astype(np.float32).T.copy() for i in range(LAYERS)]
            self._w_hh = [weights[f"w_hh_{i}"].astype(np.float32).T.copy() for i in range(LAYERS)]
            self._b = [weights[f"b_{i}"].astype(np.float32) for i in range(LAYERS)]
            self._lin_w = weights["linear_w"].astype(np.float32).T.copy()
            self._lin_b = weights["linear_b"].astype(np.float32)
        except KeyError as exc:
            raise DiarizationUnavailable(f"The voice encoder's weights lack {exc}.") from exc

    @classmethod
    def load(cls) -> VoiceEncoder:
        """Load the weights shipped in this package; raises :class:`DiarizationUnavailable`
        if the file is missing or unreadable."""
        try:
            data = resources.files(__package__).joinpath(WEIGHTS_FILE).read_bytes()
            with np.load(io.BytesIO(data)) as npz:
                weights = {key: npz[key] for key in npz.files}
        except (OSError, ValueError) as exc:
            raise DiarizationUnavailable(
                f"The voice encoder's weights ({WEIGHTS_FILE}) are missing or unreadable."
            ) from exc
        return cls(weights)

    def embed(self, mels: FloatArray) -> FloatArray:
        """Embeddings of a batch of equally long mel sequences ``(n, frames, 40)``: an
        ``(n, 256)`` float32 array of unit-norm rows (non-negative, as after the ReLU); a row
        whose ReLU output is all zero stays zero."""
        out = np.zeros((mels.shape[0], HIDDEN), dtype=np.float32)
        for start in range(0, mels.shape[0], BATCH):
            out[start : start + BATCH] = self._embed_batch(mels[start : start + BATCH])
        return out

    def _embed_batch(self, mels: FloatArray) -> FloatArray:
        x = mels.astype(np.float32)
        batch, steps, _ = x.shape
        h = np.zeros((batch, HIDDEN), dtype=np.float32)
        for layer in range(LAYERS):
            # The input's contribution to the gates for all steps at once: one large matmul
            # instead of one per step.
            gates_in = x @ self._w_ih[layer] + self._b[layer]
            w_hh = self._w_hh[layer]
            h = np.zeros((batch, HIDDEN), dtype=np.float32)
            c = np.zeros((batch, HIDDEN), dtype=np.float32)
            last = layer == LAYERS - 1
            outputs = None if last else np.empty((batch, steps, HIDDEN), dtype=np.float32)
            for t in range(steps):
                g = gates_in[:, t] + h @ w_hh
                # PyTorch's gate order: input, forget, cell, output.
                i = _sigmoid(g[:, :HIDDEN])
                f = _sigmoid(g[:, HIDDEN : 2 * HIDDEN])
                cell = np.tanh(g[:, 2 * HIDDEN : 3 * HIDDEN])
                o = _sigmoid(g[:, 3 * HIDDEN :])
                c = f * c + i * cell
                h = o * np.tanh(c)
                if outputs is not None:
                    outputs[:, t] = h
            if outputs is not None:
                x = outputs
        raw = np.maximum(h @ self._lin_w + self._lin_b, 0.0)
        norms = np.linalg.norm(raw, axis=1, keepdims=True)
        result: FloatArray = raw / np.maximum(norms, 1e-12)
        return result
