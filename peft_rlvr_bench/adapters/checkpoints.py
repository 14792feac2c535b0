"""Saving trained runs as directories any stock loader understands.

- Full and sparse runs: a plain Hugging Face checkpoint (safetensors).
- PEFT runs: a plain PEFT adapter directory for ``PeftModel.from_pretrained(stock_base, dir)``.
- Both carry the tokenizer the run used, and a PEFT adapter names its base portably (the hub id,
  or the tiny world's name, which ``models.base_location`` resolves): an absolute cache path in
  ``adapter_config.json`` would name nothing on another machine (``docs/interop.md``).
  Residual methods (PiSSA, OLoRA, MiLoRA, GeoRA) trained against a rewritten base, so their
  adapter is converted with peft's ``path_initial_model_for_weight_conversion`` into a standard
  LoRA of rank 2r relative to the original base: the stock base plus it reproduces the run.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

INITIAL_ADAPTER = "initial_adapter"
"""peft looks the initial adapter up by folder name, next to the final one."""


def is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def snapshot_initial_adapter(model: Any, run_dir: Path) -> Path:
    """Saves a residual adapter's factors at init, marked as a plain LoRA init for conversion."""
    config = model.peft_config["default"]
    original = config.init_lora_weights
    config.init_lora_weights = True  # peft refuses to convert from an initial "pissa"/"olora" config
    try:
        with warnings.catch_warnings():
            # peft warns that a residual adapter should be converted: this snapshot is what converts it.
            warnings.filterwarnings("ignore", message=".*changes the base weights", category=UserWarning)
            model.save_pretrained(run_dir / INITIAL_ADAPTER)
    finally:
        config.init_lora_weights = original
    return run_dir / INITIAL_ADAPTER


def save_trained(
    model: Any,
    out_dir: Path,
    initial_adapter: Path | None = None,
    tokenizer: Any = None,
    base_name: str | None = None,
) -> None:
    """Writes ``model`` to ``out_dir`` as a PEFT directory (converted when ``initial_adapter``) or
    a plain checkpoint, with ``tokenizer``; a PEFT directory names its base ``base_name``."""
    if is_peft(model):
        kwargs = {"path_initial_model_for_weight_conversion": str(initial_adapter)} if initial_adapter else {}
        model.save_pretrained(out_dir, **kwargs)
        if base_name is not None:
            config_path = out_dir / "adapter_config.json"
            config = json.loads(config_path.read_text())
            config["base_model_name_or_path"] = base_name
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    else:
        model.save_pretrained(out_dir, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)


def load_trained(base_location: str, run_dir: Path) -> Any:
    """The tuned model from a saved directory, with the stock base under a PEFT adapter."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    if (run_dir / "adapter_config.json").exists():
        base = AutoModelForCausalLM.from_pretrained(base_location, dtype=torch.float32)
        return PeftModel.from_pretrained(base, run_dir)
    return AutoModelForCausalLM.from_pretrained(run_dir, dtype=torch.float32)
