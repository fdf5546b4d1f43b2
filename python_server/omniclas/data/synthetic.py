"""A small, seeded, synthetic dataset of fluorescence-like cells, for the demo and tests on a fresh machine.

Three phenotypes, as in a GFP-localisation screen: DNA stain (blue) in every cell, and GFP (green) either in
the nucleus, in the cytoplasm, or absent. These images are synthetic: they show the tool working, not biology.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PHENOTYPES = ("NuclearGFP", "CytoplasmicGFP", "NoGFP")


def _blob(yy, xx, cy, cx, ry, rx, angle):
    c, s = np.cos(angle), np.sin(angle)
    u = ((xx - cx) * c + (yy - cy) * s) / rx
    v = (-(xx - cx) * s + (yy - cy) * c) / ry
    return u * u + v * v


def make_cell(phenotype: str, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One ``size x size`` RGB uint8 cell image of the given phenotype."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = size / 2 + rng.normal(0, size * 0.05, 2)
    angle = rng.uniform(0, np.pi)
    r_cell = size * rng.uniform(0.28, 0.4)
    r_nuc = r_cell * rng.uniform(0.4, 0.55)
    cell = _blob(yy, xx, cy, cx, r_cell, r_cell * rng.uniform(0.7, 1.0), angle)
    nucleus = _blob(yy, xx, cy + rng.normal(0, 2), cx + rng.normal(0, 2), r_nuc, r_nuc * rng.uniform(0.75, 1.0), angle)
    soft = lambda d: 1.0 / (1.0 + np.exp((d - 1.0) * 8.0))  # smooth edge
    in_cell, in_nuc = soft(cell), soft(nucleus)
    texture = 1.0 + 0.25 * rng.standard_normal((size, size)).astype(np.float32)
    dna = in_nuc * rng.uniform(0.5, 0.9) * texture
    brightness = rng.uniform(0.4, 0.9)
    if phenotype == "NuclearGFP":
        gfp = in_nuc * brightness * texture
    elif phenotype == "CytoplasmicGFP":
        gfp = np.clip(in_cell - 0.8 * in_nuc, 0, 1) * brightness * texture
    else:
        gfp = in_cell * 0.04 * texture
    background = 0.03
    img = np.zeros((size, size, 3), dtype=np.float32)
    img[..., 1] = gfp + background + rng.normal(0, 0.03, (size, size))
    img[..., 2] = dna + background + rng.normal(0, 0.03, (size, size))
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


def make_synthetic_dataset(out_dir, labelled_per_class: int = 12, unlabelled: int = 90, seed: int = 0,
                           size: int = 64) -> Path:
    """Write ``out_dir/<phenotype>/*.png`` and ``out_dir/unlabelled/*.png``; returns ``out_dir``.

    The true class of each unlabelled image is kept in ``out_dir/../<name>-unlabelled-truth.csv`` (outside the
    dataset folder, so it is not read as a class) for checking the automatic labels.
    """
    out = Path(out_dir)
    rng = np.random.default_rng(seed)
    for phenotype in PHENOTYPES:
        (out / phenotype).mkdir(parents=True, exist_ok=True)
        for i in range(labelled_per_class):
            Image.fromarray(make_cell(phenotype, rng, size)).save(out / phenotype / f"{phenotype}_{i:03d}.png")
    (out / "unlabelled").mkdir(parents=True, exist_ok=True)
    truth = ["image,class"]
    for i in range(unlabelled):
        phenotype = PHENOTYPES[int(rng.integers(len(PHENOTYPES)))]
        name = f"cell_{i:04d}.png"
        Image.fromarray(make_cell(phenotype, rng, size)).save(out / "unlabelled" / name)
        truth.append(f"{name},{phenotype}")
    (out.parent / f"{out.name}-unlabelled-truth.csv").write_text("\n".join(truth) + "\n")
    return out
