"""The progress bars show the time left and the live reward the trainer logs."""

from __future__ import annotations

from types import SimpleNamespace

from rich.console import Console
from rich.progress import Progress

from peft_rlvr_bench import console
from peft_rlvr_bench.callbacks import StepTimer


def test_the_updates_bar_shows_an_eta_and_the_logged_reward() -> None:
    console.LIVE.clear()
    timer = StepTimer()
    timer.on_log(None, SimpleNamespace(global_step=3), None, logs={"reward": 0.625, "loss": 0.1})
    assert console.live_text() == "reward 0.62"  # 0.625 rounds half to even
    out = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    with Progress(*console.progress_columns(), console=out, auto_refresh=False) as progress:
        task = progress.add_task("  lora-s0", total=100, live=True)
        other = progress.add_task("suite tiny", total=3)
        progress.update(task, completed=40)
        progress.update(other, completed=1)
        progress.refresh()
    lines = out.export_text().splitlines()
    updates = next(line for line in lines if "lora-s0" in line)
    assert "eta" in updates and "reward 0.62" in updates
    assert "reward" not in next(line for line in lines if "suite tiny" in line)
    console.LIVE.clear()
