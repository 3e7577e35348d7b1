"""Agglomerative clustering of voice embeddings (average linkage on cosine distance, numpy
only) with an automatic number of clusters, and the linking of speakers across notes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]

# Learned on the synthetic set of benchmarks/diarization.py (see BENCHMARKS.md).
# Cosine distance, between the recording-centred embeddings, below which two groups of
# windows are one voice: 1.0 is "no more alike than two random directions".
CLUSTER_THRESHOLD = 1.0
# Cosine distance between two voices' raw (uncentred) centroids below which they are one
# voice after all: centring magnifies a single voice's noise into clusters, this undoes it.
# A centroid of few windows is noisy: MERGE_NOISE * (1/n_a + 1/n_b) is added to the limit.
MERGE_DISTANCE = 0.10
MERGE_NOISE = 0.10
# Notes are linked on raw centroids (nothing to centre on across notes; a note's centroid
# averages many windows, hence a little above MERGE_DISTANCE).
LINK_THRESHOLD = 0.14
_FORBIDDEN = 1e6  # the distance between two speakers of one note: never merged


def _unit_rows(x: FloatArray) -> FloatArray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    result: FloatArray = x / np.maximum(norms, 1e-12)
    return result


def average_linkage(distances: npt.NDArray[np.float64]) -> list[tuple[int, int, float]]:
    """The full average-linkage dendrogram of a symmetric distance matrix, by the
    nearest-neighbour chain (O(n^2) time and one n x n matrix). Returns the n - 1 merges
    ``(a, b, height)`` where ``a`` and ``b`` are any member of each merged cluster; the heights
    of nested merges never decrease, so cutting at ``t`` means applying the merges <= ``t``."""
    n = distances.shape[0]
    d = distances.astype(np.float64, copy=True)
    np.fill_diagonal(d, np.inf)
    sizes = np.ones(n, dtype=np.float64)
    active = np.ones(n, dtype=bool)
    merges: list[tuple[int, int, float]] = []
    chain: list[int] = []
    remaining = n
    while remaining > 1:
        if not chain:
            chain.append(int(np.flatnonzero(active)[0]))
        a = chain[-1]
        b = int(np.argmin(d[a]))
        if len(chain) > 1 and d[a, chain[-2]] <= d[a, b]:
            b = chain[-2]
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            height = float(d[a, b])
            merges.append((a, b, height))
            # Lance-Williams for average linkage; the merged cluster keeps row a.
            row = (sizes[a] * d[a] + sizes[b] * d[b]) / (sizes[a] + sizes[b])
            d[a] = row
            d[:, a] = row
            d[a, a] = np.inf
            d[b] = np.inf
            d[:, b] = np.inf
            sizes[a] += sizes[b]
            active[b] = False
            remaining -= 1
        else:
            chain.append(b)
    return merges


def cut(n: int, merges: Sequence[tuple[int, int, float]], threshold: float) -> list[int]:
    """Cluster labels of ``n`` items after the merges not higher than ``threshold``: labels
    0..k-1, numbered in order of each cluster's first item."""
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b, height in merges:
        if height <= threshold:
            parent[find(a)] = find(b)
    labels: list[int] = []
    numbers: dict[int, int] = {}
    for i in range(n):
        labels.append(numbers.setdefault(find(i), len(numbers)))
    return labels


def cosine_distances(x: FloatArray) -> npt.NDArray[np.float64]:
    """Pairwise cosine distances (1 - cosine similarity) of the rows of ``x``."""
    unit = _unit_rows(x).astype(np.float64)
    result: npt.NDArray[np.float64] = np.clip(1.0 - unit @ unit.T, 0.0, 2.0)
    return result


def cluster(embeddings: FloatArray, threshold: float = CLUSTER_THRESHOLD) -> list[int]:
    """Labels 0..k-1 for the rows of ``embeddings``, k chosen by the distance threshold; an
    empty input gives no labels, one row gives one cluster."""
    n = embeddings.shape[0]
    if n == 0:
        return []
    return cut(n, average_linkage(cosine_distances(embeddings)), threshold)


def cluster_voices(
    embeddings: FloatArray,
    threshold: float = CLUSTER_THRESHOLD,
    merge: float = MERGE_DISTANCE,
    noise: float = MERGE_NOISE,
) -> list[int]:
    """Voice labels 0..k-1 for the windows of one recording (rows of unit-norm
    ``embeddings``), k found automatically: average linkage at ``threshold`` on the
    embeddings centred on the recording's mean (what all its windows share, the channel and
    the synthesiser, drops out and the voices' differences remain), then the two voices
    whose raw centroids are nearest merged while they are nearer than
    ``merge + noise * (1/n_a + 1/n_b)`` (n: their numbers of windows)."""
    n = embeddings.shape[0]
    if n < 2:
        return [0] * n
    centred = _unit_rows(embeddings - embeddings.mean(axis=0))
    labels = np.asarray(cluster(centred, threshold))
    while labels.max() > 0:
        centres = centroids(embeddings, labels.tolist())
        inverse = 1.0 / np.bincount(labels)
        distances = 1.0 - centres @ centres.T - noise * (inverse[:, None] + inverse[None, :])
        np.fill_diagonal(distances, np.inf)
        a, b = np.unravel_index(int(np.argmin(distances)), distances.shape)
        if distances[a, b] >= merge:
            break
        keep, gone = min(a, b), max(a, b)
        labels[labels == gone] = keep
        labels[labels > gone] -= 1
    numbers: dict[int, int] = {}  # renumbered in order of first window, as cluster() does
    return [numbers.setdefault(int(label), len(numbers)) for label in labels]


def centroids(embeddings: FloatArray, labels: Sequence[int]) -> FloatArray:
    """The unit-norm mean embedding of each label 0..max(labels)."""
    k = max(labels) + 1 if labels else 0
    out = np.zeros((k, embeddings.shape[1]), dtype=np.float32)
    np.add.at(out, np.asarray(labels, dtype=np.int64), embeddings)
    return _unit_rows(out)


def link_speakers(
    notes: Sequence[Sequence[Sequence[float]]], threshold: float | None = None
) -> list[list[int]]:
    """Session-wide speaker numbers for the speakers of several notes.

    ``notes[i][k]`` is the centroid of speaker ``k`` of note ``i`` (``Diarization.centroids``).
    Returns, per note and per local speaker, a number 1..n: the same voice in several notes
    gets the same number, two speakers of one note never do, and numbers are given in order
    of first appearance (note by note, speaker by speaker)."""
    limit = LINK_THRESHOLD if threshold is None else threshold
    owners = [i for i, note in enumerate(notes) for _ in note]
    if not owners:
        return [[] for _ in notes]
    vectors = np.asarray([c for note in notes for c in note], dtype=np.float32)
    distances = cosine_distances(vectors)
    same_note = np.equal.outer(owners, owners)
    np.fill_diagonal(same_note, False)
    distances[same_note] = _FORBIDDEN
    labels = cut(len(owners), average_linkage(distances), limit)
    result: list[list[int]] = []
    position = 0
    for note in notes:
        result.append([label + 1 for label in labels[position : position + len(note)]])
        position += len(note)
    return result
