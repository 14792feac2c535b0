"""Sharded training: whole weights gathered onto rank 0, weight-touching methods refused."""

from __future__ import annotations

import pytest


def test_rank_0_rebuilds_the_trained_model_from_gathered_weights() -> None:
    import torch

    from peft_rlvr_bench.adapters import ApplyContext
    from peft_rlvr_bench.registry import ADAPTERS
    from peft_rlvr_bench.rlvr.sharded import gather_whole_state, load_whole_state
    from tests.helpers.tiny_models import tiny_llama

    adapter = ADAPTERS.get("pissa")()  # a residual init: the base weights change too
    params = adapter.Params.model_validate({"r": 2})
    trained = adapter.apply(tiny_llama(0), params, ApplyContext())
    with torch.no_grad():
        for parameter in trained.parameters():
            if parameter.requires_grad:
                parameter.add_(0.01 * torch.randn_like(parameter))
    state = gather_whole_state(trained)  # one process: it is rank 0 and nothing is sharded
    assert state is not None
    rebuilt = load_whole_state(adapter.apply(tiny_llama(0), params, ApplyContext()), state)
    ids = torch.arange(10).unsqueeze(0)
    expected = adapter.merge(trained)(ids).logits
    torch.testing.assert_close(adapter.merge(rebuilt)(ids).logits, expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="gathered weights lack 1 parameter"):
        load_whole_state(adapter.apply(tiny_llama(0), params, ApplyContext()), dict(list(state.items())[1:]))


def test_methods_that_touch_weights_while_training_are_refused_when_sharded() -> None:
    from peft_rlvr_bench.adapters import TrainingHooks
    from peft_rlvr_bench.rlvr.sharded import refuse_weight_hooks

    refuse_weight_hooks(TrainingHooks(), None)
    with pytest.raises(ValueError, match="strategy zero2 or ddp"):
        refuse_weight_hooks(TrainingHooks(callbacks=[object()]), None)
    with pytest.raises(ValueError, match="strategy zero2 or ddp"):
        refuse_weight_hooks(TrainingHooks(), intervention=object())


def test_a_sharded_launch_is_read_from_accelerates_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from peft_rlvr_bench.rlvr.sharded import sharded_launch

    for name in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE", "ACCELERATE_USE_FSDP"):
        monkeypatch.delenv(name, raising=False)
    assert not sharded_launch()
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2")
    assert not sharded_launch()
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert sharded_launch()
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED")
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert sharded_launch()
