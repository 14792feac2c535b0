"""A run's curve keeps every number TRL logs for an update, not only reward and loss."""

from __future__ import annotations

from peft_rlvr_bench.rlvr.records import step_records


def test_every_trl_log_key_is_kept_in_the_curve() -> None:
    history = [
        {
            "loss": 0.5,
            "reward": 0.25,
            "reward_std": 0.1,
            "completions/mean_length": 812.0,
            "completions/clipped_ratio": 0.125,
            "entropy": 0.7,
            "clip_ratio/region_mean": 0.0,
            "frac_reward_zero_std": 0.5,
            "sampling/importance_sampling_ratio/min": None,  # TRL's value when every entry was NaN
            "grad_norm": 1.5,
            "step_time": 2.01,
            "epoch": 0.1,
            "step": 1,
        },
        {"train_runtime": 9.0, "train_loss": 0.5, "epoch": 0.1, "step": 1},  # the end-of-training summary
    ]
    (record,) = step_records(history, [2.0])
    data = record.model_dump()
    assert (record.step, record.reward_mean, record.loss, record.step_seconds) == (1, 0.25, 0.5, 2.0)
    assert data["completions/mean_length"] == 812.0 and data["frac_reward_zero_std"] == 0.5
    assert data["entropy"] == 0.7 and data["clip_ratio/region_mean"] == 0.0 and data["grad_norm"] == 1.5
    assert data["sampling/importance_sampling_ratio/min"] is None
    assert "epoch" not in data and "reward" not in data and "step_time" not in data
