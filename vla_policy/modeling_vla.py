"""Cross-attention vision-language-action policy (pure torch; no ROS).

image (B, 3, H, W) --FiLM(language)--> conv stages --> visual tokens (B, N, D) + 2-D sincos positions
instruction --frozen text encoder--> token features (B, L, Dt) --> language tokens (B, L, D)
visual tokens --context layers (attend to all visual + language tokens)--> scene-aware visual tokens
scene-aware tokens --heatmap head--> target and end-effector heatmaps --soft-argmax--> keypoint token
queries = [present, proprio, keypoints, K action queries, language tokens]   (B, 3 + K + L, D)
each block: queries self-attend, then cross-attend to the visual tokens; heads read the outputs
(with ``action_focus_heads``, some heads of the action queries are drawn to the two heatmaps' cells).

Outputs a chunk of K actions (velocity normalised by ``max_linear_speed``, gripper-open
logit) and a target-present logit used to abstain. The heatmap head, trained by an
auxiliary loss on the simulator's projected target cup and end-effector positions,
gives the action queries explicit image keypoints: the grasp needs the cup-gripper
offset to ~1 cm, which pooled attention alone did not resolve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint_files import WEIGHTS_NAME, CheckpointError, read_checkpoint, write_checkpoint
from .configuration_vla import VLAConfig
from .ensemble import AbstainVote, ChunkEnsembler, binarise_gripper

# The marker embedding is scaled up where it is used: trained from zero at a fine-tune's learning rate,
# it reached a norm of 0.3 in 800 steps, against 8 for the position code it is added to (measured),
# and the relation barely read it.
MARKER_GAIN = 8.0
EARLY_CHANNELS = 8  # input channels the pooled instruction becomes in early fusion

ABSTAIN_WINDOW = 3  # frames averaged before deciding to abstain
FOCUS_FLOOR = 1e-4  # action_focus_heads: least heatmap probability a cell is given (log: -9.2)



def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position encoding, (grid*grid, dim)."""
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    parts = []
    for coord in (xs.reshape(-1), ys.reshape(-1)):
        angles = coord[:, None] * freqs[None]
        parts += [angles.sin(), angles.cos()]
    return torch.cat(parts, dim=1)


class ConvStage(nn.Module):
    """conv (stride s) -> GroupNorm -> FiLM -> GELU [-> residual conv]."""

    def __init__(self, cin: int, cout: int, stride: int, residual: bool = True) -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.norm1 = nn.GroupNorm(8, cout)
        self.conv = nn.Conv2d(cout, cout, 3, 1, 1, bias=False) if residual else None
        self.norm2 = nn.GroupNorm(8, cout) if residual else None

    def forward(self, x: torch.Tensor, film: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        x = self.norm1(self.down(x))
        if film is not None:
            gamma, beta = film  # (B, C) each
            x = x * (1.0 + gamma[:, :, None, None]) + beta[:, :, None, None]
        x = F.gelu(x)
        return x if self.conv is None else x + F.gelu(self.norm2(self.conv(x)))


class ContextLayer(nn.Module):
    """Visual tokens attend to every visual token and the language tokens, then a feed-forward.
    The heatmap head reads single tokens; relations ("leftmost", "next to the blue cup") need a token
    to know about the others. Outputs start at zero, so a layer added to a trained policy is the
    identity until fine-tuning moves it."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        for layer in (self.attn.out_proj, self.ff[-1]):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, visual: torch.Tensor, lang: torch.Tensor, lang_pad: torch.Tensor) -> torch.Tensor:
        """visual (B, N, D), lang (B, L, D), lang_pad (B, L) True = padding -> (B, N, D)."""
        h = self.norm(visual)
        keys = torch.cat([h, lang], dim=1)  # (B, N + L, D)
        pad = torch.cat([torch.zeros(h.shape[:2], dtype=torch.bool, device=h.device), lang_pad], dim=1)
        visual = visual + self.attn(h, keys, keys, key_padding_mask=pad, need_weights=False)[0]
        return visual + self.ff(self.norm_ff(visual))


class FusionBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, q: torch.Tensor, q_pad: torch.Tensor, visual: torch.Tensor, want_weights: bool,
                cross_bias: torch.Tensor | None = None):
        """cross_bias (B * heads, Q, N) is added to the cross-attention logits (``action_focus_heads``)."""
        h = self.norm_self(q)
        q = q + self.self_attn(h, h, h, key_padding_mask=q_pad, need_weights=False)[0]
        h = self.norm_cross(q)
        if cross_bias is not None:
            cross_bias = cross_bias.to(h.dtype)
        out, weights = self.cross_attn(h, visual, visual, attn_mask=cross_bias,
                                       need_weights=want_weights)  # weights (B, Q, N)
        q = q + out
        return q + self.ff(self.norm_ff(q)), weights


class VLAPolicy(nn.Module):
    """The policy. ``forward`` works on batches of tensors; ``select_action`` on one observation."""

    def __init__(self, config: VLAConfig, text_encoder: Any | None = None) -> None:
        super().__init__()
        self.config = config
        c = config
        self.use_film = c.fusion.startswith("film")
        self.use_xattn = c.fusion.endswith("xattn")
        self.use_early = c.fusion == "early"
        # RGB + 2 coordinate channels (+ the instruction's channels for early fusion)
        chans = (5 + (EARLY_CHANNELS if self.use_early else 0),) + tuple(c.vision_channels)
        n = len(c.vision_channels)
        # The first stage runs at the highest resolution: no residual conv there (it would cost ~40 %).
        self.stages = nn.ModuleList(
            ConvStage(chans[i], chans[i + 1], 2 if i < n - 1 else 1, residual=i > 0) for i in range(n)
        )
        self.text_proj = nn.Linear(c.text_dim, c.dim)
        if self.use_early:
            self.early = nn.Linear(c.text_dim, EARLY_CHANNELS)
        if self.use_film:
            self.film = nn.Sequential(nn.Linear(c.text_dim, 256), nn.GELU(),
                                      nn.Linear(256, 2 * sum(c.vision_channels)))
            nn.init.zeros_(self.film[-1].weight)
            nn.init.zeros_(self.film[-1].bias)
        self.visual_proj = nn.Linear(c.vision_channels[-1], c.dim)
        self.register_buffer("visual_pos", sincos_2d(c.token_grid, c.dim), persistent=False)
        self.context = nn.ModuleList(ContextLayer(c.dim, c.heads) for _ in range(c.context_layers))
        if c.anchor_marker:  # added to the visual tokens around the located anchor (zero: no effect yet)
            self.marker_embed = nn.Parameter(torch.zeros(1, 1, c.dim))  # used times MARKER_GAIN
        self.proprio_proj = nn.Linear(c.proprio_dim, c.dim)
        self.register_buffer("proprio_mean", torch.tensor(c.proprio_mean, dtype=torch.float32), persistent=False)
        self.register_buffer("proprio_std", torch.tensor(c.proprio_std, dtype=torch.float32), persistent=False)
        self.heatmap_head = nn.Linear(c.dim, 2 if c.keypoint_readout else 1)  # target [, end-effector]
        if c.keypoint_readout:
            self.keypoint_proj = nn.Sequential(nn.Linear(6, c.dim), nn.GELU(), nn.Linear(c.dim, c.dim))
            cells = (torch.arange(c.token_grid, dtype=torch.float32) + 0.5) / c.token_grid * 2.0 - 1.0
            ys, xs = torch.meshgrid(cells, cells, indexing="ij")
            self.register_buffer("cell_xy", torch.stack([xs.reshape(-1), ys.reshape(-1)], -1), persistent=False)
        n_extra = 1 if c.keypoint_readout else 0
        if self.use_xattn:
            self.present_query = nn.Parameter(torch.randn(1, 1, c.dim) * 0.02)
            self.action_queries = nn.Parameter(torch.randn(1, c.chunk_size, c.dim) * 0.02)
            self.blocks = nn.ModuleList(FusionBlock(c.dim, c.heads) for _ in range(c.blocks))
            if c.action_focus_heads:
                gain = (torch.arange(c.heads) < c.action_focus_heads).float()  # (heads,): 1 drawn, 0 free
                self.focus_gain = nn.Parameter(gain)
            self.out_norm = nn.LayerNorm(c.dim)
            self.action_head = nn.Linear(c.dim, c.action_dim)
            self.present_head = nn.Linear(c.dim, 1)
        else:
            n_in = 2 + n_extra + (not self.use_early)  # pooled vision, proprio [, keypoints] [, language]
            self.late_mlp = nn.Sequential(nn.Linear(n_in * c.dim, 4 * c.dim), nn.GELU(), nn.Linear(4 * c.dim, 4 * c.dim),
                                          nn.GELU(), nn.Linear(4 * c.dim, c.chunk_size * c.action_dim + 1))
        self._text_encoder = text_encoder
        self.last_attention: torch.Tensor | None = None  # (B, grid, grid) from the last forward
        self.last_target_heatmap: np.ndarray | None = None  # (grid, grid) target probability, last prediction
        self.last_keypoints: np.ndarray | None = None  # (2, 2) pixels [target, end-effector] x (u, v), or None
        self.reset()

    # -- batch computation -------------------------------------------------------
    def forward(self, images: torch.Tensor, proprio: torch.Tensor, text: torch.Tensor, text_pad: torch.Tensor,
                want_attention: bool = False, marker_uv: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """images (B, 3, H, W) uint8 or float in [0, 1]; proprio (B, P) raw; text (B, L, Dt); text_pad (B, L);
        marker_uv (B, 2) pixels of a located anchor, NaN rows (or None) for none (``anchor_marker``)."""
        c = self.config
        b = images.shape[0]
        x = images.float() / 255.0 if images.dtype == torch.uint8 else images
        if x.shape[-1] != c.image_size or x.shape[-2] != c.image_size:
            x = F.interpolate(x, size=(c.image_size, c.image_size), mode="bilinear", align_corners=False)
        x = x - 0.5
        if c.input_ablation == "no_vision":
            x = torch.zeros_like(x)  # grey frames
        if c.input_ablation == "no_language":
            text = torch.zeros_like(text)
        coords = torch.linspace(-1.0, 1.0, c.image_size, device=x.device)
        yy, xx = torch.meshgrid(coords, coords, indexing="ij")
        x = torch.cat([x, xx.expand(b, 1, -1, -1), yy.expand(b, 1, -1, -1)], dim=1)  # (B, 5, H, W)

        keep = (~text_pad).float().unsqueeze(-1)  # (B, L, 1)
        pooled_text = (text * keep).sum(1) / keep.sum(1).clamp(min=1.0)  # (B, Dt)
        if self.use_early:  # the instruction joins the pixels before any convolution
            lang_map = self.early(pooled_text)[:, :, None, None].expand(-1, -1, *x.shape[-2:])  # (B, E, H, W)
            x = torch.cat([x, lang_map.to(x.dtype)], dim=1)  # (B, 5 + E, H, W)
        films = None
        if self.use_film:
            params = self.film(pooled_text).split([ch for ch in c.vision_channels for _ in (0, 1)], dim=-1)
            films = [(params[2 * i], params[2 * i + 1]) for i in range(len(c.vision_channels))]
        for i, stage in enumerate(self.stages):
            x = stage(x, films[i] if films else None)
        visual = self.visual_proj(x.flatten(2).transpose(1, 2)) + self.visual_pos  # (B, N, D)
        if c.anchor_marker and marker_uv is not None:
            marker = MARKER_GAIN * self.marker_embed  # (1, 1, D)
            visual = visual + self.marker_map(marker_uv).unsqueeze(-1).to(visual.dtype) * marker
        lang = self.text_proj(text)  # (B, L, D)
        for layer in self.context:
            visual = layer(visual, lang, text_pad)  # (B, N, D)
        heat = self.heatmap_head(visual)  # (B, N, 1 or 2)

        p = (proprio - self.proprio_mean) / self.proprio_std
        fixed = [self.proprio_proj(p).unsqueeze(1)]  # [(B, 1, D)]
        result: dict[str, torch.Tensor] = {"heatmap_logits": heat[..., 0]}  # (B, N)
        if c.keypoint_readout:
            result["ee_heatmap_logits"] = heat[..., 1]
            heat_p = torch.softmax(heat.float(), dim=1)  # (B, N, 2) target, end-effector probabilities
            kp = torch.einsum("bnh,nc->bhc", heat_p, self.cell_xy)  # (B, 2, 2) in [-1, 1]
            result["keypoints"] = (kp + 1.0) * (c.image_size / 2.0)  # pixels: [target, end-effector] x (u, v)
            offset = kp[:, 0] - kp[:, 1]  # (B, 2); x8 so a 1 cm offset (~0.04) is not lost in the inputs
            fixed.append(self.keypoint_proj(torch.cat([kp.flatten(1), 8.0 * offset], -1).to(visual.dtype)).unsqueeze(1))
        if self.use_xattn:
            k, n0 = c.chunk_size, 1 + len(fixed)
            q = torch.cat([self.present_query.expand(b, -1, -1), *fixed,
                           self.action_queries.expand(b, -1, -1), lang], dim=1)  # (B, n0 + K + L, D)
            q_pad = torch.cat([torch.zeros(b, n0 + k, dtype=torch.bool, device=q.device), text_pad], dim=1)
            bias = self._focus_bias(heat_p, n0, k, q.shape[1]) if c.action_focus_heads else None
            weights = None
            for j, block in enumerate(self.blocks):
                q, weights = block(q, q_pad, visual, want_attention and j == len(self.blocks) - 1, bias)
            q = self.out_norm(q)
            out = self.action_head(q[:, n0:n0 + k])  # (B, K, A)
            present_logit = self.present_head(q[:, 0]).squeeze(-1)  # (B,)
            if weights is not None:
                grid = c.token_grid
                self.last_attention = weights[:, n0:n0 + k].mean(1).reshape(b, grid, grid).detach()
        else:
            pooled_visual = visual.mean(1)  # (B, D)
            pooled_lang = (lang * keep).sum(1) / keep.sum(1).clamp(min=1.0)
            parts = [pooled_visual] + ([] if self.use_early else [pooled_lang]) + [t.squeeze(1) for t in fixed]
            flat = self.late_mlp(torch.cat(parts, dim=-1))
            out = flat[:, :-1].reshape(b, c.chunk_size, c.action_dim)
            present_logit = flat[:, -1]
        result.update({
            "velocity": out[..., :3],  # (B, K, 3) normalised
            "gripper_logit": out[..., 3],  # (B, K) logit of "open"
            "present_logit": present_logit,  # (B,)
        })
        return result

    def _focus_bias(self, heat_p: torch.Tensor, n0: int, k: int, n_queries: int) -> torch.Tensor:
        """heat_p (B, N, 2) target and end-effector probabilities -> (B * heads, Q, N) cross-attention
        bias: gain_h * log p on the K action-query rows (p: the mean of the two heatmaps), zero elsewhere."""
        b, n = heat_p.shape[:2]
        p = heat_p.detach().mean(-1)  # (B, N)
        log_p = torch.log(p.clamp(min=FOCUS_FLOOR))  # the floor keeps far cells reachable
        bias = heat_p.new_zeros(b, self.config.heads, n_queries, n)
        bias[:, :, n0:n0 + k] = self.focus_gain.float()[None, :, None, None] * log_p[:, None, None]
        return bias.reshape(b * self.config.heads, n_queries, n)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Forward + :meth:`loss` (use :meth:`loss` directly when the forward runs through a DDP wrapper)."""
        return self.loss(self(batch["images"], batch["proprio"], batch["text"], batch["text_pad"],
                              marker_uv=batch.get("marker_uv")), batch)

    def loss(self, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """batch: actions (B, K, 4) physical units, action_pad (B, K) True where the chunk ran past the
        episode end, present (B,), target_uv (B, 2) pixels (NaN when absent), optional ee_uv (B, 2)
        pixels (NaN where the camera is not calibrated)."""
        c = self.config
        out = {k: v.float() for k, v in out.items()}
        present = batch["present"].float()
        valid = (~batch["action_pad"]).float() * present[:, None]  # (B, K): absent scenes have no action label
        denom = valid.sum().clamp(min=1.0)
        target_v = batch["actions"][..., :3] / c.max_linear_speed
        vel_loss = (((out["velocity"] - target_v) ** 2).mean(-1) * valid).sum() / denom
        grip_loss = (F.binary_cross_entropy_with_logits(out["gripper_logit"], batch["actions"][..., 3],
                                                        reduction="none") * valid).sum() / denom
        present_loss = F.binary_cross_entropy_with_logits(out["present_logit"], present)
        loss = vel_loss + grip_loss + c.present_weight * present_loss
        logs = {"velocity": vel_loss.item(), "gripper": grip_loss.item(), "present": present_loss.item()}
        if c.aux_heatmap_weight > 0:
            heat_loss = self._heatmap_loss(out["heatmap_logits"], batch["target_uv"], present.bool())
            loss = loss + c.aux_heatmap_weight * heat_loss
            logs["heatmap"] = heat_loss.item()
            if c.keypoint_readout and "ee_uv" in batch:
                ee_uv = batch["ee_uv"]
                inside = ((ee_uv >= 0) & (ee_uv < c.image_size)).all(-1)  # NaN compares False
                ee_loss = self._heatmap_loss(out["ee_heatmap_logits"], ee_uv, inside)
                loss = loss + c.aux_heatmap_weight * ee_loss
                logs["ee_heatmap"] = ee_loss.item()
        logs["loss"] = loss.item()
        return loss, logs

    def _cell_centres(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Pixel centres (x, y) of the visual-token cells, each (N,)."""
        c = self.config
        centres = (torch.arange(c.token_grid, device=device, dtype=torch.float32) + 0.5) * (c.image_size / c.token_grid)
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        return xs.reshape(-1), ys.reshape(-1)

    def marker_map(self, uv: torch.Tensor) -> torch.Tensor:
        """(B, 2) pixels -> (B, N) Gaussian bump (peak 1, the heatmap target's width) over the token
        cells; zero for NaN rows."""
        c = self.config
        xs, ys = self._cell_centres(uv.device)
        sigma = c.aux_heatmap_sigma * c.image_size / c.token_grid
        uv = uv.float()
        d2 = (xs[None] - uv[:, :1]) ** 2 + (ys[None] - uv[:, 1:]) ** 2  # (B, N)
        return torch.nan_to_num(torch.exp(-d2 / (2 * sigma ** 2)), nan=0.0)

    def _heatmap_loss(self, logits: torch.Tensor, uv: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Cross-entropy to a Gaussian around the point's token cell (KL up to a constant); rows where
        ``valid`` (B,) is False or ``uv`` is NaN are left out."""
        c = self.config
        cell = c.image_size / c.token_grid
        xs, ys = self._cell_centres(uv.device)
        mask = valid & torch.isfinite(uv).all(-1)
        if not mask.any():
            return logits.sum() * 0.0
        uv = uv[mask]
        d2 = (xs[None] - uv[:, :1]) ** 2 + (ys[None] - uv[:, 1:]) ** 2  # (M, N)
        target = torch.softmax(-d2 / (2 * (c.aux_heatmap_sigma * cell) ** 2), dim=-1)
        return -(target * F.log_softmax(logits[mask], dim=-1)).sum(-1).mean()

    # -- single-observation inference ---------------------------------------------
    @property
    def text_encoder(self):
        if self._text_encoder is None:
            from .language import TextEncoder

            c = self.config
            self._text_encoder = TextEncoder(c.text_encoder, c.text_encoder_sha256, c.max_text_tokens)
        return self._text_encoder

    def reset(self) -> None:
        """Start of an episode: forget queued/ensembled actions and the abstain evidence."""
        self._step = 0
        self._ensembler = ChunkEnsembler(self.config.ensemble_decay, step_seconds=1.0)  # time in control steps
        self._vote = AbstainVote(self.config.abstain_threshold, ABSTAIN_WINDOW)
        self.abstained = False
        self.present_prob = 1.0

    def _forward_one(self, obs: dict[str, Any], want_attention: bool) -> dict[str, torch.Tensor]:
        param = next(self.parameters())
        image = torch.as_tensor(np.ascontiguousarray(obs["image"]), device=param.device).permute(2, 0, 1)[None]
        ee = np.asarray(obs["ee_pose"], dtype=np.float32)[:3]
        grip = np.asarray(obs["gripper_width"], dtype=np.float32).reshape(-1)[:1]
        proprio = torch.as_tensor(np.concatenate([ee, grip]), device=param.device)[None]
        text, pad = self.text_encoder.encode([obs["instruction"]])
        marker = obs.get("marker_uv")
        marker = None if marker is None else torch.as_tensor(np.asarray(marker, np.float32), device=param.device)[None]
        return self(image, proprio, text.to(param.device), pad.to(param.device), want_attention=want_attention,
                    marker_uv=marker)

    @torch.no_grad()
    def locate(self, obs: dict[str, Any], peaks: int = 1) -> tuple[np.ndarray, float]:
        """Pixels (2,) of the cup ``obs["instruction"]`` names and P(it is in view); with ``peaks`` > 1,
        the pixels (peaks, 2) of that many heatmap peaks, strongest first (candidates for the two cups
        of a left/right pair: which peaks are distinct cups is decided on the table, by
        ``decision.pair_of``). Each is the probability-weighted centre of the 3 x 3 cells around a
        peak (a far-off second mode does not pull it, as the plain soft-argmax would), and those cells
        are left out of the search for the next."""
        if not isinstance(peaks, int) or peaks < 1:
            raise ValueError(f"peaks must be an integer >= 1, got {peaks!r}")
        out = self._forward_one(obs, False)
        uv = self._peak_centres(self._target_heat(out), peaks)
        return (uv[0] if peaks == 1 else uv), float(torch.sigmoid(out["present_logit"][0]))

    def _target_heat(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        grid = self.config.token_grid
        return torch.softmax(out["heatmap_logits"][0].float(), -1).reshape(grid, grid)  # (G, G)

    def _peak_centres(self, heat: torch.Tensor, peaks: int) -> np.ndarray:
        """Pixels (peaks, 2) of the strongest peaks of a heatmap (G, G): see :meth:`locate`."""
        grid = heat.shape[0]
        xs, ys = (t.reshape(grid, grid) for t in self._cell_centres(heat.device))
        search, found = heat.clone(), []
        for _ in range(peaks):
            r, c = divmod(int(search.argmax()), grid)
            rows, cols = slice(max(0, r - 1), r + 2), slice(max(0, c - 1), c + 2)
            window = heat[rows, cols]
            found.append(torch.stack([(window * xs[rows, cols]).sum(), (window * ys[rows, cols]).sum()]) / window.sum())
            search[rows, cols] = -1.0
        return torch.stack(found).cpu().numpy()  # (peaks, 2)

    @torch.no_grad()
    def predict_action_chunk(self, obs: dict[str, Any]) -> tuple[np.ndarray, float]:
        """One observation -> (K, 4) actions in physical units (m/s, gripper in [0, 1]) and P(target present).
        ``obs`` holds image, ee_pose, gripper_width, instruction and, for a marker policy's next-to
        task, ``marker_uv`` (the located anchor's pixels)."""
        out = self._forward_one(obs, True)
        self.last_target_heatmap = self._target_heat(out).cpu().numpy()  # (G, G)
        self.last_keypoints = out["keypoints"][0].float().cpu().numpy() if "keypoints" in out else None
        velocity = out["velocity"][0].clamp(-1.0, 1.0) * self.config.max_linear_speed  # (K, 3)
        gripper = torch.sigmoid(out["gripper_logit"][0])[:, None]  # (K, 1)
        chunk = torch.cat([velocity, gripper], dim=-1).float().cpu().numpy()
        return chunk, float(torch.sigmoid(out["present_logit"][0]))

    @property
    def last_target_uv(self) -> np.ndarray | None:
        """Pixels (2,) of the last prediction's target-heatmap peak, as :meth:`locate` finds it, or None.
        Found when asked (the decision core asks only for a retry over the located cup), not on every step."""
        if self.last_target_heatmap is None:
            return None
        return self._peak_centres(torch.from_numpy(self.last_target_heatmap), 1)[0]

    @property
    def last_ee_uv(self) -> np.ndarray | None:
        """Pixels (2,) where the last prediction saw the end effector (its keypoint), or None (no keypoint
        readout)."""
        return None if self.last_keypoints is None else self.last_keypoints[1].astype(np.float64)

    def select_action(self, obs: dict[str, Any]) -> np.ndarray:
        """Next action (4,), temporally ensembling overlapping chunks; sets ``abstained``."""
        t = self._step
        self._step += 1
        if self.config.ensemble_decay >= 0 or self._ensembler.action(t) is None:  # chunk queue: only when used up
            chunk, self.present_prob = self.predict_action_chunk(obs)
            self.abstained = self._vote.add(self.present_prob)
            self._ensembler.add(t, chunk)
        return binarise_gripper(self._ensembler.action(t))

    # -- persistence ----------------------------------------------------------------
    def save_pretrained(self, directory: str | Path) -> Path:
        return write_checkpoint(directory, self.state_dict(), self.config.to_json(), "vla_xattn")

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu",
                        text_encoder: Any | None = None) -> "VLAPolicy":
        """Load ``config.json`` + ``model.safetensors``; never unpickles anything."""
        config, state = read_checkpoint(directory, VLAConfig.from_dict, "a checkpoint")
        weights_file = Path(directory) / WEIGHTS_NAME
        model = cls(config, text_encoder=text_encoder)
        expected = model.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
        if missing or unexpected or wrong:
            raise CheckpointError(
                f"{weights_file}: weights do not match config.json "
                f"(missing {missing[:3]}, unexpected {unexpected[:3]}, wrong shape {wrong[:3]})"
            )
        model.load_state_dict(state)
        return model.to(device).eval()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["VLAPolicy", "VLAConfig", "CheckpointError", "count_parameters"]
