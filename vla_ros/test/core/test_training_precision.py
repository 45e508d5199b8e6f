"""The trainer's step in float32 and under bfloat16 autocast (TrainConfig.precision)."""

from __future__ import annotations

import numpy as np
import pytest

from vla_ros.core.training.grounding import GROUNDING_DIM


def _net_and_batch(batch_size: int = 8):
    import torch
    from policy_testing import tiny_spec

    from vla_ros.core.policy.vla_model import VlaConfig, build_net

    torch.manual_seed(0)
    config = VlaConfig(
        spec=tiny_spec(chunk_length=4, image_keys=("front", "wrist")),
        hidden_dim=32,
        cnn_channels=(8, 16),
        flow_steps=2,
        pooling="attention",
        aux_dim=GROUNDING_DIM,
    )
    spec = config.spec
    rng = np.random.default_rng(0)
    h, w = spec.image_size

    def tensor(*shape):
        return torch.from_numpy(rng.normal(size=shape).astype(np.float32))

    batch = {
        "images": torch.from_numpy(rng.random((batch_size, 2, 3, h, w), dtype=np.float32)),
        "states": tensor(batch_size, config.net_state_dim),
        "langs": tensor(batch_size, config.lang_dim),
        "targets": tensor(batch_size, spec.chunk_length, config.net_action_dim),
        "aux": tensor(batch_size, GROUNDING_DIM),
        # attention targets for both cameras: (B, C, K, 2) points in [-1, 1], (B, C, K) valid
        "points": torch.from_numpy(rng.uniform(-0.8, 0.8, (batch_size, 2, 2, 2)).astype("f4")),
        "valid": torch.ones(batch_size, 2, 2, dtype=torch.bool),
    }
    return config, build_net(config), batch


def test_bfloat16_step_computes_the_same_loss_and_keeps_float32_weights():
    """Every loss term (flow, grounding, both cameras' attention) under autocast: the loss is
    float32's within bfloat16's rounding, the update keeps the weights float32 and finite and
    lowers the loss on the batch it learns from."""
    import torch

    from vla_ros.core.training.trainer import training_step

    _, net, batch = _net_and_batch()
    terms = {"aux_weight": 1.0, "attention_weight": 1.0, "attention_cameras": (0, 1)}
    losses = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(1)  # the same flow noise and times
        losses[precision] = training_step(net, batch, None, precision=precision, **terms)
    assert np.isfinite(losses["float32"]) and losses["float32"] > 0.0
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)
    assert losses["bfloat16"] != losses["float32"]  # autocast did round to bfloat16

    optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3)
    torch.manual_seed(2)
    first = training_step(net, batch, optimiser, precision="bfloat16", **terms)
    for _ in range(30):
        torch.manual_seed(2)
        last = training_step(net, batch, optimiser, precision="bfloat16", **terms)
    assert last < 0.8 * first
    for name, parameter in net.named_parameters():
        assert parameter.dtype == torch.float32, name
        assert torch.isfinite(parameter).all(), name


def test_unknown_precision_is_refused():
    from vla_ros.core.training.trainer import TrainConfig, training_step

    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="float16")
    _, net, batch = _net_and_batch(2)
    with pytest.raises(ValueError, match="precision"):
        training_step(net, batch, None, precision="half")


def test_grounding_teacher_replaces_what_the_action_head_reads():
    """Where a sample's teacher flag is set, the context reads the given positions (the same
    context as the prediction when they equal it) and the action loss no longer trains the
    grounding head through the context; elsewhere nothing changes."""
    import torch

    _, net, batch = _net_and_batch(4)
    net.eval()
    images, states, langs = batch["images"], batch["states"], batch["langs"]
    with torch.no_grad():
        context, grounding = net.encode_with_grounding(images, states, langs)
        predicted_m = grounding * net.aux_std + net.aux_mean
        use = torch.tensor([True, False, True, False])
        same, _ = net.encode_with_grounding(images, states, langs, teacher=(predicted_m, use))
        moved, again = net.encode_with_grounding(
            images, states, langs, teacher=(predicted_m + 0.05, use)
        )
    assert torch.allclose(same, context, atol=1e-5)
    assert torch.equal(again, grounding)  # the prediction itself is untouched
    changed = (moved - context).abs().amax(dim=1) > 1e-4
    assert changed.tolist() == use.tolist()

    def action_grad_on_grounding_head(teacher):
        net.zero_grad()
        ctx, _ = net.encode_with_grounding(images, states, langs, teacher=teacher)
        ctx.pow(2).sum().backward()
        return sum(float(p.grad.abs().sum()) for p in net.aux_head.parameters())

    assert action_grad_on_grounding_head(None) > 0.0
    all_taught = (batch["aux"], torch.ones(4, dtype=torch.bool))
    assert action_grad_on_grounding_head(all_taught) == 0.0


def test_grounding_teacher_settings_are_validated():
    from vla_ros.core.training.trainer import TrainConfig, grounding_teacher

    with pytest.raises(ValueError, match="grounding_teacher_probability"):
        TrainConfig(grounding_teacher_probability=1.5)
    with pytest.raises(ValueError, match="grounding_teacher_noise_m"):
        TrainConfig(grounding_teacher_noise_m=-0.01)
    rng = np.random.default_rng(0)
    targets = np.zeros((2000, GROUNDING_DIM))
    positions, use = grounding_teacher(targets, np.ones(2000, dtype=bool), 0.01, rng)
    assert use.all() and abs(float(positions.std()) - 0.01) < 0.001
