"""SCHP's AugmentCE2P network in pure PyTorch, and a strict loader for its checkpoints.

Written from the facts in ``docs/schp.md``: a ResNet-101 with a deep stem and a
dilated layer4 (output stride 16), a PSP context module, a decoder, an edge branch and a fusion
head. Parameter names reproduce the keys of SCHP's released checkpoints exactly (after removing the
``module.`` prefix of ``DataParallel``), including the ``fushion`` spelling, so the user's
``exp-schp-201908270938-pascal-person-part.pth`` loads strictly.

The reference code normalises with InPlace-ABN, a CUDA extension. At inference it is a batch norm
with the running statistics, an *effective* scale ``|weight| + 1e-5`` and eps 1e-5, followed by a
leaky ReLU (slope 0.01) in the head and by nothing in the backbone (an explicit ReLU follows there).
:class:`InferenceABN` is that computation on any device; :func:`fold_abn` folds it into the
preceding convolutions for speed.

This module imports torch at import time; ``occreid.parser.schp`` imports it lazily.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import OccreidError

#: Pascal-Person-Part labels (background, head, torso, upper arms, lower arms, upper legs, lower legs).
NUM_CLASSES = 7
ABN_EPS = 1e-5
LEAKY_SLOPE = 0.01
CHECKPOINT_NAME = "exp-schp-201908270938-pascal-person-part.pth"
#: Classes of SCHP's other released models, to tell the user which one they passed by mistake.
_OTHER_MODELS = {20: "LIP (20 classes)", 18: "ATR (18 classes)"}


class CheckpointError(OccreidError, ValueError):
    """The file is not a usable SCHP Pascal-Person-Part checkpoint (the message says why)."""


class InferenceABN(nn.Module):
    """InPlace-ABN at inference: BN(running stats, gamma = |weight| + eps) then an activation.

    ``activation`` is ``"leaky_relu"`` (slope 0.01, the head) or ``"none"`` (the backbone).
    Holds exactly ``weight``, ``bias``, ``running_mean``, ``running_var`` (no
    ``num_batches_tracked``), as in the checkpoints. After :meth:`fold_into` the normalisation lives
    in the preceding convolution and only the activation remains.
    """

    running_mean: torch.Tensor  # buffers (register_buffer): tensors, not modules
    running_var: torch.Tensor

    def __init__(self, num_features: int, activation: str = "leaky_relu"):
        super().__init__()
        if activation not in ("leaky_relu", "none"):
            raise ValueError(f"unknown activation {activation!r}")
        self.num_features = num_features
        self.activation = activation
        self.folded = False
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def effective_scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(scale, shift) with ``y = x * scale + shift`` per channel, computed in float64."""
        gamma = self.weight.detach().double().abs() + ABN_EPS
        scale = gamma / torch.sqrt(self.running_var.detach().double() + ABN_EPS)
        shift = self.bias.detach().double() - self.running_mean.detach().double() * scale
        return scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.folded:
            x = F.batch_norm(
                x,
                self.running_mean,
                self.running_var,
                self.weight.abs() + ABN_EPS,
                self.bias,
                training=False,
                momentum=0.0,
                eps=ABN_EPS,
            )
            if self.activation == "leaky_relu":
                return F.leaky_relu_(x, LEAKY_SLOPE)
            return x
        if self.activation == "leaky_relu":
            return F.leaky_relu_(x, LEAKY_SLOPE)
        return x

    @torch.no_grad()
    def fold_into(self, conv: nn.Conv2d) -> None:
        """Fold this normalisation into ``conv`` (which must feed it directly)."""
        if self.folded:
            return
        scale, shift = self.effective_scale_shift()
        w = conv.weight.detach().double() * scale.view(-1, 1, 1, 1)
        b = shift if conv.bias is None else conv.bias.detach().double() * scale + shift
        dtype, device = conv.weight.dtype, conv.weight.device
        conv.weight = nn.Parameter(w.to(dtype=dtype, device=device), requires_grad=False)
        conv.bias = nn.Parameter(b.to(dtype=dtype, device=device), requires_grad=False)
        self.folded = True

    def extra_repr(self) -> str:
        return f"{self.num_features}, activation={self.activation}, folded={self.folded}"


def _abn_plain(num_features: int) -> InferenceABN:
    """Backbone normalisation: no activation of its own."""
    return InferenceABN(num_features, activation="none")


class Bottleneck(nn.Module):
    """ResNet bottleneck (1x1, 3x3 with the stride and dilation, 1x1 to 4x planes)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None):
        super().__init__()
        # Registration order (conv, then its norm) matters to fold_abn.
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _abn_plain(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = _abn_plain(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = _abn_plain(planes * 4)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu_(self.bn1(self.conv1(x)))
        out = F.relu_(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu_(out + identity)


def _conv_abn(cin: int, cout: int, kernel: int = 1) -> list[nn.Module]:
    """A head convolution (no bias) and its leaky-ReLU ABN."""
    return [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), InferenceABN(cout)]


class PSPModule(nn.Module):
    """Pyramid pooling (bins 1, 2, 3, 6) on the 2048-channel layer4 output, then a 3x3 bottleneck."""

    def __init__(self, features: int = 2048, out_features: int = 512, sizes=(1, 2, 3, 6)):
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d((s, s)), *_conv_abn(features, out_features))
            for s in sizes
        )
        self.bottleneck = nn.Sequential(
            *_conv_abn(features + len(sizes) * out_features, out_features, kernel=3)
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        h, w = feats.shape[2:]
        priors = [
            F.interpolate(stage(feats), size=(h, w), mode="bilinear", align_corners=True)
            for stage in self.stages
        ]
        priors.append(feats)
        return self.bottleneck(torch.cat(priors, dim=1))


class EdgeModule(nn.Module):
    """Edge branch on layer1/2/3. Only the 768-channel features feed the fusion head; the edge
    logits (``conv4``, ``conv5``) are computed when asked for."""

    def __init__(self, in_features=(256, 512, 1024), mid: int = 256, out: int = 2):
        super().__init__()
        self.conv1 = nn.Sequential(*_conv_abn(in_features[0], mid))
        self.conv2 = nn.Sequential(*_conv_abn(in_features[1], mid))
        self.conv3 = nn.Sequential(*_conv_abn(in_features[2], mid))
        self.conv4 = nn.Conv2d(mid, out, 3, padding=1, bias=True)
        self.conv5 = nn.Conv2d(out * 3, out, 1, bias=True)

    def forward(self, x1, x2, x3, with_logits: bool = True):
        h, w = x1.shape[2:]
        f1, f2, f3 = self.conv1(x1), self.conv2(x2), self.conv3(x3)
        edge = None
        if with_logits:
            e1, e2, e3 = self.conv4(f1), self.conv4(f2), self.conv4(f3)
            e2 = F.interpolate(e2, size=(h, w), mode="bilinear", align_corners=True)
            e3 = F.interpolate(e3, size=(h, w), mode="bilinear", align_corners=True)
            edge = self.conv5(torch.cat([e1, e2, e3], dim=1))
        f2 = F.interpolate(f2, size=(h, w), mode="bilinear", align_corners=True)
        f3 = F.interpolate(f3, size=(h, w), mode="bilinear", align_corners=True)
        return edge, torch.cat([f1, f2, f3], dim=1)


class DecoderModule(nn.Module):
    """Parsing decoder: context (512) to 256 at layer1 size, layer1 (256) to 48, then 304 -> 256."""

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.conv1 = nn.Sequential(*_conv_abn(512, 256))
        self.conv2 = nn.Sequential(*_conv_abn(256, 48))
        self.conv3 = nn.Sequential(*_conv_abn(304, 256), *_conv_abn(256, 256))
        self.conv4 = nn.Conv2d(256, num_classes, 1, bias=True)

    def forward(self, xt, xl, with_logits: bool = True):
        h, w = xl.shape[2:]
        xt = F.interpolate(self.conv1(xt), size=(h, w), mode="bilinear", align_corners=True)
        x = self.conv3(torch.cat([xt, self.conv2(xl)], dim=1))
        return (self.conv4(x) if with_logits else None), x


class AugmentCE2P(nn.Module):
    """SCHP's parser network. ``forward`` returns the fusion logits at 1/4 of the input size
    (what inference uses); ``forward_all`` returns ``[[parsing, fusion], [edge]]`` as SCHP does."""

    def __init__(self, num_classes: int = NUM_CLASSES, layers=(3, 4, 23, 3)):
        super().__init__()
        self.num_classes = num_classes
        # Deep stem: three 3x3 convolutions (the first with stride 2), each with BN (+ ReLU).
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = _abn_plain(64)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = _abn_plain(64)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = _abn_plain(128)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self._inplanes = 128
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.layer3 = self._make_layer(256, layers[2], stride=2)
        self.layer4 = self._make_layer(512, layers[3], stride=1, dilation=2)
        self.context_encoding = PSPModule(2048, 512)
        self.edge = EdgeModule()
        self.decoder = DecoderModule(num_classes)
        # Spelled as in the checkpoints.
        self.fushion = nn.Sequential(
            *_conv_abn(1024, 256),
            nn.Dropout2d(0.1),
            nn.Conv2d(256, num_classes, 1, bias=True),
        )

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilation: int = 1):
        downsample = None
        if stride != 1 or self._inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self._inplanes, planes * 4, 1, stride=stride, bias=False),
                _abn_plain(planes * 4),
            )
        mods = [Bottleneck(self._inplanes, planes, stride, dilation, downsample)]
        self._inplanes = planes * 4
        mods += [Bottleneck(self._inplanes, planes, 1, dilation) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def _trunk(self, x: torch.Tensor):
        x = F.relu_(self.bn1(self.conv1(x)))
        x = F.relu_(self.bn2(self.conv2(x)))
        x = F.relu_(self.bn3(self.conv3(x)))
        x = self.maxpool(x)
        x2 = self.layer1(x)
        x3 = self.layer2(x2)
        x4 = self.layer3(x3)
        x5 = self.layer4(x4)
        return x2, x3, x4, self.context_encoding(x5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x2, x3, x4, ctx = self._trunk(x)
        _, parsing_fea = self.decoder(ctx, x2, with_logits=False)
        _, edge_fea = self.edge(x2, x3, x4, with_logits=False)
        return self.fushion(torch.cat([parsing_fea, edge_fea], dim=1))

    def forward_all(self, x: torch.Tensor):
        x2, x3, x4, ctx = self._trunk(x)
        parsing, parsing_fea = self.decoder(ctx, x2)
        edge, edge_fea = self.edge(x2, x3, x4)
        fusion = self.fushion(torch.cat([parsing_fea, edge_fea], dim=1))
        return [[parsing, fusion], [edge]]


@torch.no_grad()
def fold_abn(model: nn.Module) -> int:
    """Fold every InferenceABN into the convolution registered just before it in the same parent.

    Returns the number folded. Inference-only: the folded model no longer has the checkpoint's
    state-dict layout (the convolutions gain biases).
    """
    count = 0
    for parent in model.modules():
        prev = None
        for child in parent.children():
            if isinstance(child, InferenceABN) and isinstance(prev, nn.Conv2d) and not child.folded:
                child.fold_into(prev)
                count += 1
            prev = child
    return count


# --------------------------------------------------------------------------- checkpoint loading


def _list(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint file into a plain ``{key: tensor}`` dict without the ``module.`` prefix.

    Accepts SCHP's form (``{'state_dict': {...}, ...}``) and a bare state dict. Uses
    ``torch.load(weights_only=True)``: no arbitrary code runs. Raises :class:`CheckpointError` for a
    truncated, corrupt or foreign file, FileNotFoundError for a missing one.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"SCHP checkpoint not found: {path} (download {CHECKPOINT_NAME} from the SCHP project "
            "and pass its path with --checkpoint)"
        )
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
    # torch.save writes a zip archive (PK..) or, before torch 1.6, a pickle (0x80 = protocol byte).
    if not (head.startswith(b"PK") or head.startswith(b"\x80")):
        raise CheckpointError(
            f"SCHP checkpoint {path} ({size:,} bytes) is not a PyTorch checkpoint: it starts with "
            f"{head!r} (a text or HTML file, e.g. a failed download page?)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, OSError,
            ValueError, UnicodeDecodeError, AttributeError, KeyError, IndexError,
            TypeError) as exc:
        kind = type(exc).__name__
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else kind
        hint = "truncated or corrupt (an interrupted download?)"
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            hint = "holds objects other than tensors and plain containers"
        raise CheckpointError(
            f"cannot read SCHP checkpoint {path} ({size:,} bytes): the file is {hint}, or not a "
            f"PyTorch checkpoint at all. torch.load said: {kind}: {detail[:300]}"
        ) from exc
    state = obj.get("state_dict", obj) if isinstance(obj, Mapping) else obj
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(
            f"SCHP checkpoint {path} is not a checkpoint dict: expected a dict with the weights "
            f"under 'state_dict' (or a state dict), got {type(obj).__name__}"
        )
    bad = [str(k) for k, v in state.items() if not (isinstance(k, str) and torch.is_tensor(v))]
    if bad:
        raise CheckpointError(
            f"SCHP checkpoint {path} is not a checkpoint dict: {len(bad)} entr(y/ies) of "
            f"'state_dict' are not named tensors: {_list(bad)}"
        )
    return {(k[len("module."):] if k.startswith("module.") else k): v for k, v in state.items()}


_MISSING = re.compile(r"Missing key\(s\) in state_dict: (.*?)\.\s*$", re.M)
_UNEXPECTED = re.compile(r"Unexpected key\(s\) in state_dict: (.*?)\.\s*$", re.M)
_SIZE = re.compile(r"size mismatch for (\S+): copying a param with shape torch\.Size\((\[.*?\])\) from checkpoint, "
                   r"the shape in current model is torch\.Size\((\[.*?\])\)")


def misfit_message(error: str, state: Mapping[str, torch.Tensor], path: str | os.PathLike, expected: int,
                   num_classes: int = NUM_CLASSES) -> str:
    """One message naming what does not fit, built from the error ``load_state_dict(strict=True)``
    raised: the missing and unexpected keys, the keys of the wrong shape, and which of SCHP's other
    released models the file looks like."""
    missing = [k for found in _MISSING.findall(error) for k in re.findall(r'"([^"]+)"', found)]
    unexpected = [k for found in _UNEXPECTED.findall(error) for k in re.findall(r'"([^"]+)"', found)]
    wrong = [f"{k} {got} (expected {want})" for k, got, want in _SIZE.findall(error)]
    parts = [
        f"SCHP checkpoint {path} does not fit the AugmentCE2P Pascal-Person-Part network "
        f"({expected} tensors expected, {len(state)} found):"
    ]
    if missing:
        parts.append(f"{len(missing)} missing key(s): {_list(missing)};")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected key(s): {_list(unexpected)};")
    if wrong:
        parts.append(f"{len(wrong)} key(s) with the wrong shape: {_list(wrong, 3)};")
    if not (missing or unexpected or wrong):
        parts.append(f"torch said: {' '.join(error.split())[:300]};")
    head = state.get("fushion.3.weight")
    if head is not None and head.ndim == 4 and head.shape[0] != num_classes:
        other = _OTHER_MODELS.get(int(head.shape[0]), f"{int(head.shape[0])} classes")
        parts.append(f"this looks like SCHP's {other} model;")
    parts.append(f"occreid needs {CHECKPOINT_NAME} (7 Pascal-Person-Part labels).")
    return " ".join(parts)


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    num_classes: int = NUM_CLASSES) -> AugmentCE2P:
    """Build AugmentCE2P from an SCHP checkpoint: strip ``module.`` and load strictly
    (``load_state_dict(strict=True)`` checks every key and shape; what it reports becomes one
    :class:`CheckpointError` naming the misfits); returns the float32 model in eval mode on
    ``device`` (not folded)."""
    state = read_state_dict(path)
    with torch.device("meta"):
        net = AugmentCE2P(num_classes)
    expected = len(net.state_dict())
    floats = {k: v.to(torch.float32) if v.is_floating_point() else v for k, v in state.items()}
    try:
        net.load_state_dict(floats, strict=True, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(misfit_message(str(exc), state, path, expected, num_classes)) from None
    return net.to(device).eval()
