"""Torch modules of the embedded VLA (imported only by vla_model.py, lazily: this loads torch).

A small CNN per camera image (RGB, optionally + depth) with FiLM conditioning on a frozen
sentence embedding of the instruction, an MLP on the normalised joint positions, and one of
two heads producing a chunk of H actions:

- "flow": pi0-style flow matching. Training regresses the velocity u = noise - actions at
  x_t = t * noise + (1 - t) * actions; inference integrates from t = 1 (noise) to t = 0 with a
  few Euler steps. A committed prefix can be imposed during integration (real-time chunking by
  inpainting): the prefix rows of x are replaced by their exact noisy value at each step.
- "tokens": each action element discretised into `token_bins` bins over [-clip, clip]
  normalised units, classified with cross-entropy; inference takes the arg-max bin centre.

All normalisation is inside the module, so ONNX export carries it too.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

POOLINGS = ("mean", "keypoints", "attention")
ATTENTION_HEADS = 8  # language queries of the "attention" pooling
ATTENTION_KEY_DIM = 32  # size of each query / key
ATTENTION_VALUE_DIM = 16  # features each head reads out


class FiLM(nn.Module):
    """Feature-wise linear modulation: x * (1 + gamma(c)) + beta(c)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        gamma, beta = self.proj(cond).chunk(2, dim=-1)
        shape = (x.shape[0], -1) + (1,) * (x.dim() - 2)
        return x * (1.0 + gamma.reshape(shape)) + beta.reshape(shape)


class ConvBlock(nn.Module):
    """Strided conv, group norm, FiLM on the language, SiLU."""

    def __init__(self, c_in: int, c_out: int, cond_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1)
        self.norm = nn.GroupNorm(min(8, c_out), c_out)
        self.film = FiLM(cond_dim, c_out)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        return F.silu(self.film(self.norm(self.conv(x)), cond))


def spatial_soft_argmax(features: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 2C): per channel, the softmax-weighted mean (x, y) in [-1, 1].

    Keypoints keep where things are, which a global mean pool throws away (Levine et al. 2016;
    robomimic's default visual pooling).
    """
    n, c, h, w = features.shape
    weights = torch.softmax(features.flatten(2), dim=-1).reshape(n, c, h, w)
    xs = torch.linspace(-1.0, 1.0, w, dtype=features.dtype)
    ys = torch.linspace(-1.0, 1.0, h, dtype=features.dtype)
    x = (weights.sum(dim=2) * xs).sum(dim=-1)
    y = (weights.sum(dim=3) * ys).sum(dim=-1)
    return torch.cat([x, y], dim=-1)


def _pixel_grid(h: int, w: int, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """(h*w,) x and y of each feature-map cell, in [-1, 1], row-major."""
    ys = torch.linspace(-1.0, 1.0, h, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, dtype=dtype)
    return xs.repeat(h), ys.repeat_interleave(w)


class LanguageAttentionPool(nn.Module):
    """Language queries attend over the feature map: per head, where (soft-argmax x, y of the
    attention) and what (the attended value features).

    The instruction picks what to look for ("the red cube", "the bowl") by the dot product of
    its query with every cell's key, so the location of the named object is read out
    directly, rather than waiting for FiLM to make some channel's spatial soft-argmax peak on
    it (CLIPort / Perceiver-style cross-attention with one query per head).
    """

    def __init__(self, channels: int, cond_dim: int) -> None:
        super().__init__()
        self.heads = ATTENTION_HEADS
        self.key = nn.Conv2d(channels, ATTENTION_HEADS * ATTENTION_KEY_DIM, kernel_size=1)
        self.value = nn.Conv2d(channels, ATTENTION_HEADS * ATTENTION_VALUE_DIM, kernel_size=1)
        self.query = nn.Linear(cond_dim, ATTENTION_HEADS * ATTENTION_KEY_DIM)
        self.out_dim = ATTENTION_HEADS * (2 + ATTENTION_VALUE_DIM)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        n, _, h, w = x.shape
        keys = self.key(x).reshape(n, self.heads, ATTENTION_KEY_DIM, h * w)
        values = self.value(x).reshape(n, self.heads, ATTENTION_VALUE_DIM, h * w)
        query = self.query(cond).reshape(n, self.heads, ATTENTION_KEY_DIM, 1)
        logits = (keys * query).sum(dim=2) / math.sqrt(ATTENTION_KEY_DIM)  # (n, heads, h*w)
        weights = torch.softmax(logits, dim=-1)
        if self.training:  # for the loss that may supervise where heads look (attention_loss)
            self.last_log_weights = torch.log_softmax(logits, dim=-1).reshape(n, self.heads, h, w)
        xs, ys = _pixel_grid(h, w, x.dtype)
        where = torch.stack([(weights * xs).sum(-1), (weights * ys).sum(-1)], dim=-1)
        what = (values * weights[:, :, None, :]).sum(-1)  # (n, heads, value_dim)
        return torch.cat([where.flatten(1), what.flatten(1)], dim=-1)


class VisionEncoder(nn.Module):
    """Language-conditioned CNN shared by all cameras; a learned embedding tells them apart.

    pooling "mean": global average of the last feature map; "keypoints": the average plus a
    spatial soft-argmax (x, y) per channel, so the context knows where the named object is;
    "attention": the average plus LanguageAttentionPool (language queries over the map).
    """

    def __init__(
        self,
        in_channels: int,
        channels: tuple[int, ...],
        cond_dim: int,
        n_cameras: int,
        pooling: str = "mean",
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got '{pooling}'")
        dims = (in_channels, *channels)
        self.blocks = nn.ModuleList(
            ConvBlock(dims[i], dims[i + 1], cond_dim) for i in range(len(channels))
        )
        self.pooling = pooling
        per_camera = channels[-1] * (3 if pooling == "keypoints" else 1)
        if pooling == "attention":
            self.attend = LanguageAttentionPool(channels[-1], cond_dim)
            per_camera += self.attend.out_dim
        self.camera_embedding = nn.Parameter(torch.zeros(n_cameras, per_camera))
        self.out_dim = n_cameras * per_camera

    def forward(self, images: Tensor, cond: Tensor) -> Tensor:
        batch, n_cams = images.shape[:2]
        x = images.flatten(0, 1)
        cond_rep = cond.repeat_interleave(n_cams, dim=0)
        for block in self.blocks:
            x = block(x, cond_rep)
        pooled = x.mean(dim=(2, 3))
        if self.pooling == "keypoints":
            pooled = torch.cat([pooled, spatial_soft_argmax(x)], dim=-1)
        elif self.pooling == "attention":
            pooled = torch.cat([pooled, self.attend(x, cond_rep)], dim=-1)
        return (pooled.reshape(batch, n_cams, -1) + self.camera_embedding).flatten(1)


class ResidualMLP(nn.Module):
    """MLP block with a FiLM on a conditioning vector and a residual connection."""

    def __init__(self, dim: int, cond_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.fc2 = nn.Linear(2 * dim, dim)
        self.film = FiLM(cond_dim, dim)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        h = self.film(self.norm(x), cond)
        return x + self.fc2(F.silu(self.fc1(h)))


def time_embedding(t: Tensor, dim: int) -> Tensor:
    """Sinusoidal embedding of flow time t in [0, 1], shape (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=t.dtype) / half)
    angles = 100.0 * t[:, None] * freqs[None, :]
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)


class VlaNet(nn.Module):
    """The embedded VLA: observation encoder + flow-matching or token action head."""

    state_mean: Tensor
    state_std: Tensor
    action_mean: Tensor
    action_std: Tensor
    lang_mean: Tensor  # only with lang_norm
    lang_std: Tensor  # only with lang_norm
    aux_mean: Tensor  # only with aux_dim > 0
    aux_std: Tensor  # only with aux_dim > 0

    def __init__(
        self,
        *,
        n_cameras: int,
        use_depth: bool,
        state_dim: int,
        action_dim: int,
        chunk_length: int,
        lang_dim: int,
        hidden_dim: int,
        cnn_channels: tuple[int, ...],
        head: str,
        head_layers: int,
        flow_steps: int,
        token_bins: int,
        token_clip: float,
        pooling: str = "mean",
        relative_dims: int = 0,
        lang_norm: bool = False,
        aux_dim: int = 0,
    ) -> None:
        super().__init__()
        if not 0 <= relative_dims <= min(state_dim, action_dim):
            raise ValueError("relative_dims must be in [0, min(state_dim, action_dim)]")
        self.relative_dims = relative_dims
        if head not in ("flow", "tokens"):
            raise ValueError(f"head must be 'flow' or 'tokens', got '{head}'")
        self.head = head
        self.chunk_length = chunk_length
        self.action_dim = action_dim
        self.flow_steps = flow_steps
        self.token_bins = token_bins
        self.token_clip = token_clip
        self.lang = nn.Sequential(nn.Linear(lang_dim, hidden_dim), nn.SiLU())
        self.vision = VisionEncoder(
            4 if use_depth else 3, cnn_channels, hidden_dim, n_cameras, pooling=pooling
        )
        self.state = nn.Sequential(nn.Linear(state_dim, hidden_dim), nn.SiLU())
        # with a grounding head, its prediction (where the named object and the goal are)
        # is part of the context too: predict where, then act
        fused = self.vision.out_dim + 2 * hidden_dim + aux_dim
        self.context = nn.Sequential(
            nn.Linear(fused, hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, hidden_dim)
        )
        flat = chunk_length * action_dim
        if head == "flow":
            self.time = nn.Sequential(nn.Linear(64, hidden_dim), nn.SiLU())
            self.action_in = nn.Linear(flat, hidden_dim)
            self.blocks = nn.ModuleList(
                ResidualMLP(hidden_dim, hidden_dim) for _ in range(head_layers)
            )
            self.action_out = nn.Linear(hidden_dim, flat)
        else:
            self.token_mlp = nn.Sequential(
                nn.Linear(hidden_dim, hidden_dim),
                nn.SiLU(),
                nn.Linear(hidden_dim, flat * token_bins),
            )
        # Normalisation statistics, stored with the weights; set from the training data.
        self.register_buffer("state_mean", torch.zeros(state_dim))
        self.register_buffer("state_std", torch.ones(state_dim))
        self.register_buffer("action_mean", torch.zeros(action_dim))
        self.register_buffer("action_std", torch.ones(action_dim))
        self.lang_norm = lang_norm
        if lang_norm:
            # Sentence embeddings of "pick up the red cube" and "... orange cube" are nearly
            # parallel; standardising each dimension over the training wordings turns the
            # few dimensions that tell them apart into O(1) features.
            self.register_buffer("lang_mean", torch.zeros(lang_dim))
            self.register_buffer("lang_std", torch.ones(lang_dim))
        self.aux_dim = aux_dim
        if aux_dim > 0:
            # Grounding head: where the named object and the task's goal are (trained on the
            # simulator's ground truth, aux_loss), from the image features and the instruction
            # alone. Not from the joint state: mid-task the arm's posture gives the cube away,
            # and a head that may read it never learns to look. Its output feeds the context.
            self.aux_head = nn.Sequential(
                nn.Linear(self.vision.out_dim + hidden_dim, hidden_dim),
                nn.SiLU(),
                nn.Linear(hidden_dim, aux_dim),
            )
            self.register_buffer("aux_mean", torch.zeros(aux_dim))
            self.register_buffer("aux_std", torch.ones(aux_dim))

    # -------------------------------------------------------------- shared encoder

    def encode(self, images: Tensor, state: Tensor, lang: Tensor) -> Tensor:
        """(B, cams, C, H, W) in [0, 1], raw state (B, J), embedding (B, L) -> context (B, D)."""
        return self.encode_with_grounding(images, state, lang)[0]

    def encode_with_grounding(
        self,
        images: Tensor,
        state: Tensor,
        lang: Tensor,
        teacher: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """(context (B, D), grounding prediction (B, aux_dim) in normalised units; (B, 0)
        without a grounding head). The grounding head reads the image features and the
        instruction, not the joint state. `teacher` (training only: the trainer's grounding
        teacher) is ((B, aux_dim) positions in metres, (B,) bool): where the flag is set the
        context reads those positions in place of the prediction, so that the action head
        learns to act on where things are. The prediction is returned either way, for its
        own loss."""
        if self.lang_norm:
            lang = (lang - self.lang_mean) / self.lang_std
        cond = self.lang(lang)
        state_n = (state - self.state_mean) / self.state_std
        vision = self.vision(images - 0.5, cond)
        if self.aux_dim > 0:
            grounding = self.aux_head(torch.cat([vision, cond], dim=-1))
        else:
            grounding = vision[:, :0]
        read = grounding
        if teacher is not None:
            positions_n = ((teacher[0] - self.aux_mean) / self.aux_std).to(grounding.dtype)
            read = torch.where(teacher[1][:, None], positions_n, grounding)
        fused = torch.cat([vision, self.state(state_n), cond, read], dim=-1)
        return self.context(fused), grounding

    def state_offset(self, state: Tensor) -> Tensor:
        """(B, 1, A) subtracted from raw actions before normalisation: the measured joints in
        the first `relative_dims` elements (actions relative to the current posture, as openpi
        trains joint actions), zero elsewhere and when relative_dims is 0."""
        if self.relative_dims == 0:
            return torch.zeros(state.shape[0], 1, self.action_dim, dtype=state.dtype)
        rel = state[:, None, : self.relative_dims]
        return F.pad(rel, (0, self.action_dim - self.relative_dims))

    def normalise_actions(self, actions: Tensor) -> Tensor:
        """Raw (B, H, A) -> normalised units."""
        return (actions - self.action_mean) / self.action_std

    def denormalise_actions(self, actions_n: Tensor) -> Tensor:
        """Normalised (B, H, A) -> raw units."""
        return actions_n * self.action_std + self.action_mean

    def attention_loss(
        self, points: Tensor, valid: Tensor, sigma_cells: float = 0.75, camera: int = 0
    ) -> Tensor:
        """Per-sample cross-entropy (B,) between where attention heads 0..K-1 of camera
        `camera` (its index in the images) looked in the last encode in training mode and
        Gaussian blobs around `points` (B, K, 2), image coordinates in [-1, 1]; `valid` (B, K)
        masks points outside the image."""
        if self.vision.pooling != "attention":
            raise ValueError("attention_loss needs pooling 'attention'")
        log_w = self.vision.attend.last_log_weights  # (B * cams, heads, h, w)
        batch, k = points.shape[:2]
        n_cams = log_w.shape[0] // batch
        if not 0 <= camera < n_cams:
            raise ValueError(f"camera index {camera} out of range for {n_cams} cameras")
        log_w = log_w.reshape(batch, n_cams, *log_w.shape[1:])[:, camera, :k]  # (B, K, h, w)
        h, w = log_w.shape[-2:]
        cx = (torch.arange(w, dtype=points.dtype) + 0.5) / w * 2.0 - 1.0
        cy = (torch.arange(h, dtype=points.dtype) + 0.5) / h * 2.0 - 1.0
        dx = (cx[None, None, None, :] - points[..., 0, None, None]) * (w / 2.0)
        dy = (cy[None, None, :, None] - points[..., 1, None, None]) * (h / 2.0)
        target = torch.softmax(
            (-(dx**2 + dy**2) / (2.0 * sigma_cells**2)).flatten(2), dim=-1
        ).reshape(log_w.shape)
        ce = -(target * log_w).sum(dim=(2, 3))  # (B, K)
        mask = valid.to(ce.dtype)
        return (ce * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)

    def aux_prediction(self, grounding: Tensor) -> Tensor:
        """(B, aux_dim) encode_with_grounding's grounding in raw units (metres)."""
        return grounding * self.aux_std + self.aux_mean

    def aux_loss(self, grounding: Tensor, targets: Tensor) -> Tensor:
        """Per-sample mean squared error (B,) of the grounding prediction, normalised units."""
        target_n = (targets - self.aux_mean) / self.aux_std
        return ((grounding - target_n) ** 2).mean(dim=1)

    # -------------------------------------------------------------- flow head

    def velocity(self, context: Tensor, x_t: Tensor, t: Tensor) -> Tensor:
        """Flow velocity at noisy chunk x_t (B, H, A) and times t (B,)."""
        cond = context + self.time(time_embedding(t, 64))
        # Additive as well as FiLM: FiLM starts at identity, so without this term an untrained
        # head would ignore the observation entirely.
        h = self.action_in(x_t.flatten(1)) + cond
        for block in self.blocks:
            h = block(h, cond)
        return self.action_out(h).reshape(x_t.shape)

    def flow_loss(self, context: Tensor, actions: Tensor, noise: Tensor, t: Tensor) -> Tensor:
        """Per-sample flow-matching loss (B,) for raw actions (minus state_offset)."""
        target_n = self.normalise_actions(actions)
        x_t = t[:, None, None] * noise + (1.0 - t[:, None, None]) * target_n
        v = self.velocity(context, x_t, t)
        return ((v - (noise - target_n)) ** 2).mean(dim=(1, 2))

    def sample_flow(
        self, context: Tensor, noise: Tensor, prefix: Tensor, prefix_mask: Tensor
    ) -> Tensor:
        """Euler integration from noise (t=1) to actions (t=0); rows where prefix_mask (B, H, 1)
        is 1 follow `prefix` (raw units). Returns raw actions (B, H, A)."""
        prefix_n = self.normalise_actions(prefix)
        x = noise
        dt = 1.0 / self.flow_steps
        for k in range(self.flow_steps):
            t_value = 1.0 - k * dt
            x = (
                prefix_mask * (t_value * noise + (1.0 - t_value) * prefix_n)
                + (1.0 - prefix_mask) * x
            )
            t = torch.full((x.shape[0],), t_value, dtype=x.dtype)
            x = x - dt * self.velocity(context, x, t)
        x = prefix_mask * prefix_n + (1.0 - prefix_mask) * x
        return self.denormalise_actions(x)

    # -------------------------------------------------------------- token head

    def bin_centres(self) -> Tensor:
        """(bins,) centres of the action bins in normalised units."""
        edges = torch.linspace(-self.token_clip, self.token_clip, self.token_bins + 1)
        return 0.5 * (edges[:-1] + edges[1:])

    def token_logits(self, context: Tensor) -> Tensor:
        """(B, H, A, bins) logits."""
        logits = self.token_mlp(context)
        return logits.reshape(-1, self.chunk_length, self.action_dim, self.token_bins)

    def token_loss(self, context: Tensor, actions: Tensor) -> Tensor:
        """Per-sample cross-entropy (B,) against the bins of the raw actions (minus
        state_offset)."""
        target_n = self.normalise_actions(actions).clamp(-self.token_clip, self.token_clip)
        scaled = (target_n + self.token_clip) / (2 * self.token_clip) * self.token_bins
        labels = scaled.floor().long().clamp(0, self.token_bins - 1)
        logits = self.token_logits(context)
        ce = F.cross_entropy(logits.flatten(0, 2), labels.flatten(), reduction="none")
        return ce.reshape(actions.shape[0], -1).mean(dim=1)

    def sample_tokens(self, context: Tensor) -> Tensor:
        """Arg-max bin centres, raw units (B, H, A)."""
        index = self.token_logits(context).argmax(dim=-1)
        return self.denormalise_actions(self.bin_centres()[index])

    # -------------------------------------------------------------- inference

    def forward(
        self,
        images: Tensor,
        state: Tensor,
        lang: Tensor,
        noise: Tensor,
        prefix: Tensor,
        prefix_mask: Tensor,
    ) -> Tensor:
        """One chunk of raw actions (B, H, A). The token head ignores noise and prefix."""
        context = self.encode(images, state, lang)
        offset = self.state_offset(state)
        if self.head == "flow":
            return self.sample_flow(context, noise, prefix - offset, prefix_mask) + offset
        # Keep every input in the graph so ONNX Runtime sees one signature for both heads.
        unused = 0.0 * (noise.sum() + prefix.sum() + prefix_mask.sum())
        return self.sample_tokens(context) + offset + unused
