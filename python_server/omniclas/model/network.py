"""The network every run saves: one or more members (a backbone body plus its linear head) whose class
probabilities are averaged over the members and, optionally, over flipped views of the image.

Input is RGB in 0..1 (pixel / 255) at the model's input size; each member normalises it with its own backbone's
mean and std, so members of different families can sit in one network. Output is class probabilities. The same
``probabilities`` code runs in the PyTorch graph (ONNX export, reference) and with compiled bodies (prediction),
so the two cannot drift apart.

Manifest keys (:func:`describe`): ``members`` ([{backbone, head, feature_norm, mean, std}]), ``views``,
``combine`` ("mean_probability"), ``backbone`` (display text: names joined by "+"), ``classes``, ``input_size``.
"""
from __future__ import annotations

import torch
from torch import nn

from .backbones import Classifier, create_classifier
from .transforms import TRANSFORM_FUNCTIONS

PREDICT_VIEWS = ("original", "hflip", "vflip", "hvflip")  # views a saved model may average: exact symmetries
COMBINE = "mean_probability"


def apply_view(x: torch.Tensor, view: str) -> torch.Tensor:
    return x if view == "original" else TRANSFORM_FUNCTIONS[view](x)


class Network(nn.Module):
    def __init__(self, members: list[Classifier], norms: list[tuple], views=("original",)):
        super().__init__()
        if not members or len(members) != len(norms):
            raise ValueError("a network needs one (mean, std) per member, and at least one member")
        unknown = [v for v in views if v not in PREDICT_VIEWS]
        if unknown or not views:
            raise ValueError(f"views must be among {PREDICT_VIEWS}, got {list(views)}")
        self.members = nn.ModuleList(members)
        self.register_buffer("mean", torch.tensor([list(m) for m, _ in norms], dtype=torch.float32).view(-1, 1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([list(s) for _, s in norms], dtype=torch.float32).view(-1, 1, 3, 1, 1))
        self.views = tuple(views)

    def probabilities(self, x: torch.Tensor, bodies=None) -> torch.Tensor:
        """Mean class probabilities over views x members. ``bodies``: optional per-member callables that replace
        each member's body (a compiled runtime); the heads always run here, in float32."""
        probs = []
        for view in self.views:
            xv = apply_view(x, view)
            for i, member in enumerate(self.members):
                xn = (xv - self.mean[i]) / self.std[i]
                features = bodies[i](xn) if bodies is not None else member.body(xn)
                probs.append(torch.softmax(member.classify(features.float()), dim=1))
        return torch.stack(probs).mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.probabilities(x)


def describe(network: Network, backbones: list[str], heads: list[str], classes, size: int) -> dict:
    """The manifest keys that rebuild ``network`` (see the module doc)."""
    members = [{"backbone": b, "head": h, "feature_norm": m.feature_norm, "mean": network.mean[i].flatten().tolist(),
                "std": network.std[i].flatten().tolist()}
               for i, (b, h, m) in enumerate(zip(backbones, heads, network.members))]
    return {"classes": list(classes), "input_size": [int(size), int(size)], "members": members,
            "views": list(network.views), "combine": COMBINE, "backbone": "+".join(backbones),
            "head": "+".join(sorted(set(heads))),
            # The network normalises inside, per member: its input is pixel / 255.
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def members_of(manifest: dict) -> list[dict]:
    """The members a manifest describes; a manifest from before ensembles holds one, at the top level."""
    if "members" in manifest:
        return list(manifest["members"])
    return [{"backbone": manifest["backbone"], "head": manifest.get("head"), "feature_norm": manifest.get("feature_norm"),
             "mean": manifest["mean"], "std": manifest["std"]}]


def build(manifest: dict) -> Network:
    """An untrained network shaped as ``manifest`` says (weights come from the state dict)."""
    members = members_of(manifest)
    classifiers = [create_classifier(m["backbone"], len(manifest["classes"]), pretrained=False,
                                     feature_norm=m.get("feature_norm")) for m in members]
    return Network(classifiers, [(m["mean"], m["std"]) for m in members], manifest.get("views") or ("original",))


def upgrade_state_dict(state: dict, manifest: dict) -> dict:
    """Weights saved before ensembles (keys ``body.*``, ``head.*``) as a one-member network's keys."""
    if "members" in manifest:
        return state
    upgraded = {f"members.0.{k}": v for k, v in state.items()}
    m = members_of(manifest)[0]
    upgraded["mean"] = torch.tensor(m["mean"], dtype=torch.float32).view(1, 1, 3, 1, 1)
    upgraded["std"] = torch.tensor(m["std"], dtype=torch.float32).view(1, 1, 3, 1, 1)
    return upgraded
