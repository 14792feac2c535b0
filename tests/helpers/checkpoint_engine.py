"""An evaluation engine for CPU tests that has vLLM's life cycle without vLLM: it is built from the
checkpoint directory the run writes, reads that directory again on ``reload_weights`` (as vLLM's
workers do), forgets its weights when it sleeps, and evaluates through lm-eval's transformers
model. A run whose engine missed a reload scores stale weights, which the tests catch."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from peft_rlvr_bench.backends import GenerationSpec


@dataclass
class EngineLog:
    """What every engine a test built did, in order, and the checkpoints they were built from."""

    events: list[str] = field(default_factory=list)
    checkpoints: list[Path] = field(default_factory=list)

    def count(self, event: str) -> int:
        return self.events.count(event)

    def life_cycle(self) -> list[str]:
        """The events but the per-evaluation seeds."""
        return [event for event in self.events if not event.startswith("seed")]

    def seeds(self) -> list[str]:
        return [event for event in self.events if event.startswith("seed")]


class CheckpointEngine:
    def __init__(self, checkpoint: Path, generation: GenerationSpec, log: EngineLog, batch_size: int) -> None:
        from lm_eval.models.huggingface import HFLM
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.checkpoint, self.log = checkpoint, log
        self.model = AutoModelForCausalLM.from_pretrained(checkpoint).eval()
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        self.lm = HFLM(pretrained=self.model, tokenizer=tokenizer, batch_size=batch_size, device="cpu")
        self.awake = True
        log.checkpoints.append(checkpoint)
        log.events.append("build")

    def reload_weights(self) -> None:
        from safetensors.torch import load_file

        assert self.awake, "vLLM cannot load weights into a sleeping engine"
        self.model.load_state_dict(load_file(self.checkpoint / "model.safetensors"), strict=False)
        self.log.events.append("reload")

    def sleep(self) -> None:
        import torch

        with torch.no_grad():  # level 2 discards the weights: only a reload brings them back
            for parameter in self.model.parameters():
                parameter.zero_()
        self.awake = False
        self.log.events.append("sleep")

    def wake_up(self) -> None:
        self.awake = True
        self.log.events.append("wake_up")

    def seed_requests(self, seed: int | None) -> None:
        self.log.events.append(f"seed {seed}")

    def shutdown(self) -> None:
        self.log.events.append("shutdown")


def checkpoint_engines(log: EngineLog, batch_size: int = 16) -> Any:
    """An ``EvalEngine`` builder whose engines record into ``log``."""

    def build(checkpoint: Path, generation: GenerationSpec) -> CheckpointEngine:
        return CheckpointEngine(checkpoint, generation, log, batch_size)

    return build
