"""Which pool images to label next, chosen on feature and probability arrays (the files are :mod:`.suggest`'s).

- :func:`typiclust` (no model yet): TypiClust (Hacohen et al. 2022, "Active learning on a budget"): k-means of the
  frozen features into (labelled + n) clusters; from each cluster that holds no labelled image, its most typical
  image (inverse mean distance to its nearest neighbours), the largest clusters first.
- :func:`uncertain_batch` (a model): the ~4n images the ensemble is least sure of (margin, and disagreement between
  its members and views), spread by k-means into n clusters, one image per cluster (the most uncertain, discounted
  where it lies alone: density), the class pairs the model confuses most first.

Both return :class:`Pick` rows, best first; indices are into the pool arrays they were given.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

NEIGHBOURS = 20  # TypiClust's k for typicality
CANDIDATES_PER_PICK = 4  # uncertain images clustered per image picked (the probe: 4 x n)
REDUCED_DIMS = 64  # k-means and neighbours run on a PCA of the features: faster, same neighbourhoods
FULL_KMEANS_UP_TO = 50  # more clusters than this: mini-batch k-means (as TypiClust's code does)


@dataclass
class Pick:
    index: int  # into the pool
    reason: str
    guess: int | None = None  # class index of the model's guess
    confidence: float | None = None


def embed(pool: np.ndarray, labelled: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pool and labelled features, L2-normalised and reduced by one PCA fitted on both."""
    labelled = np.zeros((0, pool.shape[1]), dtype=np.float32) if labelled is None else labelled
    both = np.concatenate([pool, labelled]).astype(np.float32)
    both /= np.linalg.norm(both, axis=1, keepdims=True) + 1e-8
    dims = min(REDUCED_DIMS, len(both) - 1, both.shape[1])
    if both.shape[1] > REDUCED_DIMS and dims >= 2:
        # exact, from the covariance: the randomized solver sklearn picks here crashed (SIGSEGV) in a process that
        # also runs a JVM (ImageJ through JPype, as the tests and scyjava users do)
        both = PCA(dims, svd_solver="covariance_eigh", random_state=seed).fit_transform(both).astype(np.float32)
    return both[:len(pool)], both[len(pool):]


def typicality(x: np.ndarray, k: int = NEIGHBOURS) -> np.ndarray:
    """1 / mean distance to the ``k`` nearest other points (a single point: 1)."""
    k = min(k, len(x) - 1)
    if k < 1:
        return np.ones(len(x), dtype=np.float32)
    dist, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return 1.0 / (dist[:, 1:].mean(axis=1) + 1e-8)


def _kmeans(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    if k <= FULL_KMEANS_UP_TO:
        model = KMeans(k, n_init=1, random_state=seed)
    else:
        model = MiniBatchKMeans(k, n_init=3, batch_size=2048, random_state=seed)
    return model.fit_predict(x)


def typiclust(pool: np.ndarray, labelled: np.ndarray | None, n: int, seed: int = 0) -> list[Pick]:
    """``n`` typical, diverse pool images (``pool``, ``labelled``: raw features, one row per image)."""
    x, xl = embed(pool, labelled, seed)
    n = min(n, len(x))
    k = min(len(x) + len(xl), n + len(xl))
    labels = _kmeans(np.concatenate([x, xl]), k, seed)
    covered = set(labels[len(x):].tolist())
    pool_labels = labels[:len(x)]
    sizes = np.bincount(pool_labels, minlength=k)
    order = [c for c in np.argsort(-sizes, kind="stable") if c not in covered and sizes[c]]
    picks = []
    for c in order[:n]:
        members = np.flatnonzero(pool_labels == c)
        best = members[int(np.argmax(typicality(x[members])))]
        picks.append(Pick(int(best), f"the most typical of {sizes[c]} similar unlabelled images, a group no "
                                     f"labelled image covers" if sizes[c] > 1 else
                                     "unlike every labelled image and every other suggestion"))
    if len(picks) < n:  # fewer uncovered clusters than asked (labelled images everywhere): the most typical rest
        taken = {p.index for p in picks}
        for i in np.argsort(-typicality(x), kind="stable"):
            if len(picks) == n:
                break
            if int(i) not in taken:
                picks.append(Pick(int(i), "typical of the unlabelled images"))
    return picks


def uncertainty(probs: np.ndarray) -> dict[str, np.ndarray]:
    """From member x view probabilities (K x N x C): the ensemble's mean, its two best classes and margin, the
    share of members/views whose answer differs from the ensemble's, and the uncertainty (both, 0..1)."""
    mean = probs.mean(axis=0)
    order = np.argsort(-mean, axis=1)
    top, second = order[:, 0], order[:, 1] if mean.shape[1] > 1 else order[:, 0]
    rows = np.arange(len(mean))
    margin = mean[rows, top] - (mean[rows, second] if mean.shape[1] > 1 else 0.0)
    disagreement = (probs.argmax(axis=2) != top[None]).mean(axis=0)
    return {"mean": mean, "top": top, "second": second, "margin": margin, "disagreement": disagreement,
            "uncertainty": (1.0 - margin + disagreement) / 2.0}


def _percentile(values: np.ndarray) -> np.ndarray:
    """Each value's rank as a fraction in (0, 1]."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(1, len(values) + 1)
    return ranks / max(1, len(values))


def uncertain_batch(probs: np.ndarray, pool: np.ndarray, n: int, classes, seed: int = 0) -> list[Pick]:
    """``n`` uncertain, representative and mutually different pool images (``probs``: K x N x C member x view
    probabilities; ``pool``: raw features)."""
    x, _ = embed(pool, None, seed)
    u = uncertainty(probs)
    n = min(n, len(x))
    density = _percentile(typicality(x))
    score = u["uncertainty"] * (0.5 + 0.5 * density)  # an outlier counts half: it teaches little about the rest
    candidates = np.argsort(-u["uncertainty"], kind="stable")[:min(len(x), CANDIDATES_PER_PICK * n)]
    groups = _kmeans(x[candidates], n, seed) if len(candidates) > n else np.arange(len(candidates))
    chosen = [(candidates[groups == g][int(np.argmax(score[candidates[groups == g]]))], int((groups == g).sum()))
              for g in np.unique(groups)]
    pair = [tuple(sorted((int(u["top"][i]), int(u["second"][i])))) for i in range(len(x))]
    confusion: dict[tuple, float] = {}
    for i, p in enumerate(pair):  # how much the model hesitates between each pair, over the whole pool
        confusion[p] = confusion.get(p, 0.0) + float(u["uncertainty"][i])
    ranked_pairs = {p: r for r, p in enumerate(sorted(confusion, key=lambda p: -confusion[p]))}
    chosen.sort(key=lambda c: (ranked_pairs[pair[c[0]]], -score[c[0]]))
    picks = []
    for i, group in chosen:
        a, b = classes[u["top"][i]], classes[u["second"][i]]
        rank = ranked_pairs[pair[i]] + 1
        why = (f"unsure between {a} and {b} (margin {u['margin'][i]:.2f}"
               + (f", {u['disagreement'][i]:.0%} of members/views disagree" if u["disagreement"][i] > 0 else "")
               + f"); {'the' if rank == 1 else f'the #{rank}'} most confused pair"
               + (f"; stands for {group} uncertain images alike" if group > 1 else ""))
        picks.append(Pick(int(i), why, int(u["top"][i]), float(u["mean"][i, u["top"][i]])))
    return picks
