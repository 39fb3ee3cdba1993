"""HTS-AT, the Swin-Transformer audio encoder of LAION-CLAP, for inference (see `clap`).

Provenance and licences
-----------------------
Vendored from ``laion_clap/clap_module/htsat.py`` and ``feature_fusion.py`` of the PyPI package
``laion_clap==1.1.7`` (LAION-AI/CLAP, released under CC0-1.0). That file is HTS-AT ("HTS-AT: A
Hierarchical Token-Semantic Audio Transformer for Sound Classification and Detection", Ke Chen
et al., ICASSP 2022; https://github.com/RetroCirce/HTS-Audio-Transformer, MIT licence), whose
layers follow the Swin Transformer (Liu et al. 2021; https://github.com/microsoft/Swin-Transformer,
Copyright (c) Microsoft Corporation, MIT licence). The MIT permission notice of both:

    Permission is hereby granted, free of charge, to any person obtaining a copy of this
    software and associated documentation files (the "Software"), to deal in the Software
    without restriction, including without limitation the rights to use, copy, modify, merge,
    publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons
    to whom the Software is furnished to do so, subject to the following conditions: The above
    copyright notice and this permission notice shall be included in all copies or substantial
    portions of the Software. THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
    EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS
    FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT
    HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF
    CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE
    USE OR OTHER DEALINGS IN THE SOFTWARE.

What changed against the original
---------------------------------
* Module and parameter names, buffers (``relative_position_index``, ``attn_mask``) and their
  construction are unchanged, so a laion_clap checkpoint's ``audio_branch.*`` tensors load
  strictly (the key list is checked against the real laion_clap model in
  ``tests/fixtures/clap_keys.json``).
* Training-only code is gone: SpecAugmentation and mixup (no parameters), stochastic depth
  (``DropPath``, identity at inference; the ``drop_path`` submodules hold no parameters),
  dropout layers (identity at inference, not parameterised), gradient checkpointing, weight
  initialisation (every tensor comes from the checkpoint), the attention maps the original
  averages and discards, and the ``tscam_conv``/``head`` sound-event outputs (their parameters
  stay, unused, so the checkpoint still loads strictly; CLAP uses only ``embedding``).
* ``embedding`` is computed as the mean over the final normalised tokens: the original's
  reshape/permute of those tokens before ``AdaptiveAvgPool1d`` only reorders what is averaged.
* No timm/torchvision: ``to_2tuple`` is a one-liner; ``trunc_normal_`` is not needed.
* Feature fusion (the ``aff_2d`` checkpoints): only the parameters of the fusion modules are
  declared. SideTrack always feeds windows of at most 10 s, for which laion_clap's fusion model
  takes its "not longer" path: the global mel only, no fusion module runs (see `forward_mel`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def to_2tuple(x: int | tuple[int, int]) -> tuple[int, int]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x, x)  # type: ignore[return-value]


def window_partition(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, H, W, C) -> (num_windows*B, window_size, window_size, C)"""
    B, H, W, C = x.shape
    x = x.view(B, H // window_size, window_size, W // window_size, window_size, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, window_size, window_size, C)


def window_reverse(windows: torch.Tensor, window_size: int, H: int, W: int) -> torch.Tensor:
    """(num_windows*B, window_size, window_size, C) -> (B, H, W, C)"""
    B = int(windows.shape[0] / (H * W / window_size / window_size))
    x = windows.view(B, H // window_size, W // window_size, window_size, window_size, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class AFF(nn.Module):
    """Attentional feature fusion (Dai et al., WACV 2021), 2-D, as laion_clap's ``AFF``: the
    parameters only (SideTrack never runs the fusion of long inputs, see the module docstring)."""

    def __init__(self, channels: int = 64, r: int = 4):
        super().__init__()
        inter = int(channels // r)
        self.local_att = nn.Sequential(
            nn.Conv2d(channels, inter, kernel_size=1, stride=1, padding=0),
            nn.BatchNorm2d(inter), nn.ReLU(inplace=True),
            nn.Conv2d(inter, channels, kernel_size=1, stride=1, padding=0),
            nn.BatchNorm2d(channels))
        self.global_att = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, inter, kernel_size=1, stride=1, padding=0),
            nn.BatchNorm2d(inter), nn.ReLU(inplace=True),
            nn.Conv2d(inter, channels, kernel_size=1, stride=1, padding=0),
            nn.BatchNorm2d(channels))
        self.sigmoid = nn.Sigmoid()


class PatchEmbed(nn.Module):
    """2-D spectrogram-image to patch embedding."""

    def __init__(self, img_size: int = 224, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: int = 768, norm_layer: type[nn.Module] | None = None,
                 flatten: bool = True, patch_stride: int | tuple[int, int] = 16,
                 enable_fusion: bool = False):
        super().__init__()
        img_size, patch_size = to_2tuple(img_size), to_2tuple(patch_size)
        patch_stride = to_2tuple(patch_stride)
        self.img_size, self.patch_size, self.patch_stride = img_size, patch_size, patch_stride
        self.grid_size = (img_size[0] // patch_stride[0], img_size[1] // patch_stride[1])
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.flatten = flatten
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.enable_fusion = enable_fusion
        padding = ((patch_size[0] - patch_stride[0]) // 2, (patch_size[1] - patch_stride[1]) // 2)
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_stride,
                              padding=padding)
        self.norm = norm_layer(embed_dim) if norm_layer else nn.Identity()
        if enable_fusion:  # fusion_type 'aff_2d' (the released fusion checkpoints)
            self.mel_conv2d = nn.Conv2d(
                in_chans, embed_dim, kernel_size=(patch_size[0], patch_size[1] * 3),
                stride=(patch_stride[0], patch_stride[1] * 3), padding=padding)
            self.fusion_model = AFF(channels=embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The fusion model's "no input longer than 10 s" path uses channel 0 (the global mel)
        # only, exactly like the non-fusion model.
        x = x[:, 0:1] if self.enable_fusion else x
        B, C, H, W = x.shape
        assert H == self.img_size[0] and W == self.img_size[1], \
            f"Input image size ({H}*{W}) doesn't match model ({self.img_size[0]}*{self.img_size[1]})."
        x = self.proj(x)
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)  # BCHW -> BNC
        return self.norm(x)


class Mlp(nn.Module):
    def __init__(self, in_features: int, hidden_features: int | None = None,
                 out_features: int | None = None):
        super().__init__()
        out_features = out_features or in_features
        hidden_features = hidden_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class WindowAttention(nn.Module):
    """Window based multi-head self attention with relative position bias (W-MSA / SW-MSA)."""

    def __init__(self, dim: int, window_size: tuple[int, int], num_heads: int,
                 qkv_bias: bool = True, qk_scale: float | None = None):
        super().__init__()
        self.dim = dim
        self.window_size = window_size  # Wh, Ww
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.scale = qk_scale or head_dim ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads))
        coords_h = torch.arange(self.window_size[0])
        coords_w = torch.arange(self.window_size[1])
        coords = torch.stack(torch.meshgrid([coords_h, coords_w], indexing="ij"))  # 2, Wh, Ww
        coords_flatten = torch.flatten(coords, 1)  # 2, Wh*Ww
        relative_coords = coords_flatten[:, :, None] - coords_flatten[:, None, :]
        relative_coords = relative_coords.permute(1, 2, 0).contiguous()  # Wh*Ww, Wh*Ww, 2
        relative_coords[:, :, 0] += self.window_size[0] - 1
        relative_coords[:, :, 1] += self.window_size[1] - 1
        relative_coords[:, :, 0] *= 2 * self.window_size[1] - 1
        self.register_buffer("relative_position_index", relative_coords.sum(-1))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads
                                  ).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q = q * self.scale
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(
            self.window_size[0] * self.window_size[1], self.window_size[0] * self.window_size[1],
            -1).permute(2, 0, 1).contiguous()  # nH, Wh*Ww, Wh*Ww
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.num_heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.num_heads, N, N)
        attn = self.softmax(attn)
        x = (attn @ v).transpose(1, 2).reshape(B_, N, C)
        return self.proj(x)


class SwinTransformerBlock(nn.Module):
    def __init__(self, dim: int, input_resolution: tuple[int, int], num_heads: int,
                 window_size: int = 7, shift_size: int = 0, mlp_ratio: float = 4.,
                 qkv_bias: bool = True, qk_scale: float | None = None):
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.num_heads = num_heads
        self.window_size = window_size
        self.shift_size = shift_size
        self.mlp_ratio = mlp_ratio
        if min(self.input_resolution) <= self.window_size:
            # window larger than the input: no partition, no shift
            self.shift_size = 0
            self.window_size = min(self.input_resolution)
        assert 0 <= self.shift_size < self.window_size, "shift_size must in 0-window_size"
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window_size=to_2tuple(self.window_size),
                                    num_heads=num_heads, qkv_bias=qkv_bias, qk_scale=qk_scale)
        self.norm2 = nn.LayerNorm(dim)  # norm_before_mlp='ln', the value CLAP uses
        self.mlp = Mlp(in_features=dim, hidden_features=int(dim * mlp_ratio))
        if self.shift_size > 0:  # attention mask for SW-MSA
            H, W = self.input_resolution
            img_mask = torch.zeros((1, H, W, 1))
            slices = (slice(0, -self.window_size), slice(-self.window_size, -self.shift_size),
                      slice(-self.shift_size, None))
            cnt = 0
            for h in slices:
                for w in slices:
                    img_mask[:, h, w, :] = cnt
                    cnt += 1
            mask_windows = window_partition(img_mask, self.window_size)
            mask_windows = mask_windows.view(-1, self.window_size * self.window_size)
            attn_mask = mask_windows.unsqueeze(1) - mask_windows.unsqueeze(2)
            attn_mask = attn_mask.masked_fill(attn_mask != 0, float(-100.0)).masked_fill(
                attn_mask == 0, float(0.0))
        else:
            attn_mask = None
        self.register_buffer("attn_mask", attn_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = self.input_resolution
        B, L, C = x.shape
        shortcut = x
        x = self.norm1(x).view(B, H, W, C)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(1, 2))
        windows = window_partition(x, self.window_size).view(
            -1, self.window_size * self.window_size, C)
        windows = self.attn(windows, mask=self.attn_mask).view(
            -1, self.window_size, self.window_size, C)
        x = window_reverse(windows, self.window_size, H, W)
        if self.shift_size > 0:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(1, 2))
        x = shortcut + x.view(B, H * W, C)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    def __init__(self, input_resolution: tuple[int, int], dim: int):
        super().__init__()
        self.input_resolution = input_resolution
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = self.input_resolution
        B, L, C = x.shape
        assert L == H * W, "input feature has wrong size"
        x = x.view(B, H, W, C)
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1).view(B, -1, 4 * C)
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    """One Swin stage: `depth` blocks alternating plain and shifted windows, then merging."""

    def __init__(self, dim: int, input_resolution: tuple[int, int], depth: int, num_heads: int,
                 window_size: int, mlp_ratio: float = 4., qkv_bias: bool = True,
                 qk_scale: float | None = None, downsample: bool = False):
        super().__init__()
        self.dim = dim
        self.input_resolution = input_resolution
        self.depth = depth
        self.blocks = nn.ModuleList([
            SwinTransformerBlock(dim=dim, input_resolution=input_resolution, num_heads=num_heads,
                                 window_size=window_size,
                                 shift_size=0 if (i % 2 == 0) else window_size // 2,
                                 mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, qk_scale=qk_scale)
            for i in range(depth)])
        self.downsample = PatchMerging(input_resolution, dim=dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


class HTSATSwinTransformer(nn.Module):
    """HTSAT_Swin_Transformer of laion_clap, inference only.

    HTSAT-tiny: ``embed_dim=96, depths=(2, 2, 6, 2)``; HTSAT-base: ``embed_dim=128,
    depths=(2, 2, 12, 2)``; both ``num_heads=(4, 8, 16, 32)``, window 8, 256x256 input made
    from a 1024-frame x 64-mel log-mel image, ``num_classes=527``."""

    def __init__(self, spec_size: int = 256, patch_size: int = 4,
                 patch_stride: int | tuple[int, int] = (4, 4), in_chans: int = 1,
                 num_classes: int = 527, embed_dim: int = 96,
                 depths: tuple[int, ...] = (2, 2, 6, 2), num_heads: tuple[int, ...] = (4, 8, 16, 32),
                 window_size: int = 8, mlp_ratio: float = 4., qkv_bias: bool = True,
                 sample_rate: int = 48000, window: int = 1024, hop_size: int = 480,
                 mel_bins: int = 64, fmin: int = 50, fmax: int = 14000,
                 enable_fusion: bool = False):
        super().__init__()
        from torchlibrosa.stft import LogmelFilterBank, Spectrogram

        self.spec_size = spec_size
        self.patch_stride = to_2tuple(patch_stride)
        self.patch_size = patch_size
        self.window_size = window_size
        self.embed_dim = embed_dim
        self.depths = tuple(depths)
        self.num_heads = tuple(num_heads)
        self.num_layers = len(self.depths)
        self.num_features = int(embed_dim * 2 ** (self.num_layers - 1))
        self.num_classes = num_classes
        self.mel_bins = mel_bins
        self.enable_fusion = enable_fusion
        self.freq_ratio = spec_size // mel_bins
        # The front end of the non-fusion model (the fusion model computes its mel outside,
        # see `clap.TorchaudioLogMel`, but carries these tensors too).
        self.spectrogram_extractor = Spectrogram(
            n_fft=window, hop_length=hop_size, win_length=window, window="hann", center=True,
            pad_mode="reflect", freeze_parameters=True)
        self.logmel_extractor = LogmelFilterBank(
            sr=sample_rate, n_fft=window, n_mels=mel_bins, fmin=fmin, fmax=fmax, ref=1.0,
            amin=1e-10, top_db=None, freeze_parameters=True)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        self.patch_embed = PatchEmbed(
            img_size=spec_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim,
            norm_layer=nn.LayerNorm, patch_stride=self.patch_stride, enable_fusion=enable_fusion)
        res = self.patch_embed.grid_size
        self.layers = nn.ModuleList()
        for i in range(self.num_layers):
            self.layers.append(BasicLayer(
                dim=int(embed_dim * 2 ** i), input_resolution=(res[0] // (2 ** i), res[1] // (2 ** i)),
                depth=self.depths[i], num_heads=self.num_heads[i], window_size=window_size,
                mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, downsample=i < self.num_layers - 1))
        self.norm = nn.LayerNorm(self.num_features)
        SF = spec_size // (2 ** (self.num_layers - 1)) // self.patch_stride[0] // self.freq_ratio
        # sound-event head: in the checkpoint, unused for the CLAP embedding
        self.tscam_conv = nn.Conv2d(self.num_features, num_classes, kernel_size=(SF, 3),
                                    padding=(0, 1))
        self.head = nn.Linear(num_classes, num_classes)

    def reshape_wav2img(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, F) log-mel -> (B, C, spec_size, spec_size): T is stretched (bicubic) to
        spec_size * freq_ratio frames, cut into freq_ratio pieces stacked along frequency."""
        B, C, T, Fq = x.shape
        target_T = int(self.spec_size * self.freq_ratio)
        target_F = self.spec_size // self.freq_ratio
        assert T <= target_T and Fq <= target_F, "the wav size should less than or equal to the swin input size"
        if T < target_T:
            x = F.interpolate(x, (target_T, x.shape[3]), mode="bicubic", align_corners=True)
        if Fq < target_F:
            x = F.interpolate(x, (x.shape[2], target_F), mode="bicubic", align_corners=True)
        x = x.permute(0, 1, 3, 2).contiguous()
        x = x.reshape(x.shape[0], x.shape[1], x.shape[2], self.freq_ratio,
                      x.shape[3] // self.freq_ratio)
        x = x.permute(0, 1, 3, 2, 4).contiguous()
        return x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3], x.shape[4])

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, spec_size, spec_size) -> (B, num_features): laion_clap's ``embedding``."""
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        x = self.norm(x)  # (B, N, C)
        # The original reshapes/permutes the N tokens into a (C, F, T) map and averages it with
        # AdaptiveAvgPool1d over all positions: the mean over the tokens.
        return x.mean(dim=1)

    def forward_mel(self, mel: torch.Tensor) -> torch.Tensor:
        """(B, C, T, mel_bins) log-mel -> embedding; bn0 over the mel axis as the original."""
        x = self.bn0(mel.transpose(1, 3)).transpose(1, 3)
        return self.forward_features(self.reshape_wav2img(x))

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) waveform -> (B, num_features) embedding (the non-fusion model)."""
        x = self.spectrogram_extractor(waveform)  # (B, 1, T, freq_bins)
        x = self.logmel_extractor(x)  # (B, 1, T, mel_bins)
        return self.forward_mel(x)
