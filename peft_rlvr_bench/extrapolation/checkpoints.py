"""``prb extrapolate`` on checkpoints trained anywhere: plain Hugging Face or PEFT directories.

Tensors are streamed one name at a time with ``safe_open``, so only one tensor's series is in
memory besides the output being assembled. PEFT adapter directories are merged onto the base
first (one at a time, into a temporary plain checkpoint).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.extrapolation import extrapolate_state
from peft_rlvr_bench.registry import EXTRAPOLATORS
from peft_rlvr_bench.safetensors_io import open_safetensors, read_json_index, read_tensor

_COPIED = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "chat_template.jinja",
)


def tensor_files(directory: Path) -> dict[str, Path]:
    """Tensor name -> safetensors file of a plain checkpoint directory (single file or sharded)."""
    index = directory / "model.safetensors.index.json"
    if index.exists():
        weight_map = read_json_index(index)["weight_map"]
        return {name: directory / file for name, file in weight_map.items()}
    single = directory / "model.safetensors"
    if single.exists():
        with open_safetensors(single) as handle:
            return dict.fromkeys(handle.keys(), single)
    raise UserError(
        f"{directory}: not a checkpoint directory (no model.safetensors or model.safetensors.index.json, "
        "nor adapter_config.json); pass a Hugging Face or PEFT directory saved with safetensors"
    )


def merged_copy(base_dir: Path, adapter_dir: Path, out: Path) -> Path:
    """A plain checkpoint of ``base + adapter`` at ``out``, for a PEFT adapter directory input."""
    from peft_rlvr_bench.adapters.checkpoints import load_trained

    merged = load_trained(str(base_dir), adapter_dir).merge_and_unload()
    merged.save_pretrained(out, safe_serialization=True)
    return out


def extrapolate_checkpoints(
    method: str,
    params: Mapping[str, Any],
    base_dir: Path,
    checkpoints: Mapping[int, Path],
    target: int,
    out_dir: Path,
) -> Path:
    """Predicts the checkpoint at ``target`` updates from ``{update: directory}`` and writes it."""
    from safetensors.torch import save_file

    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir}: --out exists and is not an empty directory; choose a new directory")
    if EXTRAPOLATORS.get(method).drives_training:
        raise UserError(
            f"prb extrapolate: {method} trains more RL between predictions, which needs the run's "
            "recipe; use it in a suite's `extrapolation:` list instead"
        )
    extrapolator = EXTRAPOLATORS.get(method)()
    try:
        typed = extrapolator.Params.model_validate(dict(params))
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"]) or "?"
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(extrapolator.Params.model_fields))
            raise UserError(f"--param {field}: {method} has no such parameter; allowed: {allowed}") from None
        raise UserError(f"--param {field}={error.get('input')!r}: {error['msg']}; fix the value") from None
    steps = sorted(checkpoints)
    base_files = tensor_files(base_dir)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        plain = {
            # Named by step: two runs' adapters are often both called "final".
            step: merged_copy(base_dir, path, Path(scratch) / f"update-{step}")
            if (path / "adapter_config.json").exists()
            else path
            for step, path in checkpoints.items()
        }
        files = {step: tensor_files(plain[step]) for step in steps}
        for step in steps:
            missing = sorted(set(base_files) - set(files[step]))
            if missing:
                raise UserError(
                    f"{checkpoints[step]}: lacks {len(missing)} tensor(s) of the base, e.g. {missing[0]}; "
                    "is it a checkpoint of the same model?"
                )
        handles: dict[Path, Any] = {}

        def read(path: Path, name: str) -> Any:
            if path not in handles:
                handles[path] = stack.enter_context(open_safetensors(path))
            return read_tensor(handles[path], path, name)

        def trajectory_of(name: str) -> list[Any]:
            series = [read(files[step][name], name) for step in steps]
            base_shape = read(base_files[name], name).shape
            for step, tensor in zip(steps, series, strict=True):
                if tensor.shape != base_shape:
                    raise UserError(
                        f"{checkpoints[step]}: {name} has shape {tuple(tensor.shape)}, the base "
                        f"{tuple(base_shape)}; checkpoints must come from the base's architecture"
                    )
            return series

        try:
            predicted = dict(
                extrapolate_state(
                    extrapolator,
                    typed,
                    sorted(base_files),
                    lambda name: read(base_files[name], name),
                    trajectory_of,
                    steps,
                    target,
                )
            )
        except ValueError as exc:
            raise UserError(f"prb extrapolate: {exc}") from None
        out_dir.mkdir(parents=True, exist_ok=True)
        save_file(
            {k: v.contiguous() for k, v in predicted.items()},
            str(out_dir / "model.safetensors"),
            metadata={"format": "pt"},
        )
        last = checkpoints[steps[-1]]
        for name in _COPIED:
            source = last / name if (last / name).exists() else base_dir / name
            if source.exists():
                shutil.copy2(source, out_dir / name)
    (out_dir / "extrapolation.json").write_text(
        json.dumps(
            {
                "method": method,
                "params": typed.model_dump(mode="json"),
                "base": str(base_dir),
                "checkpoints": {str(s): str(checkpoints[s]) for s in steps},
                "target": target,
            },
            indent=2,
        )
        + "\n"
    )
    return out_dir
