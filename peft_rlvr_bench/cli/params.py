"""``prb params``: trainable parameters of every adapter entry, counted without any weights.

The base is built on PyTorch's meta device from its ``config.json`` (the committed or cached tiny
world's, ``model.path``'s, or the hub's, config only), so a 7B model costs no memory and the
tiny world is never built. Adapters whose set-up reads weight values (PiSSA's SVD, a sparse
mask's choice) cannot run there; they are counted from their declared footprint instead.
"""

from __future__ import annotations

from typing import Any

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.suite import TINY_MODEL, ModelSpec, Suite


def config_location(spec: ModelSpec) -> str | None:
    """Where the base's ``config.json`` is, without building or downloading weights; None for a
    tiny-world recipe that is neither committed nor built yet."""
    if spec.name == TINY_MODEL:
        from peft_rlvr_bench.world.build import world_dir

        assert spec.world is not None  # filled in by ModelSpec's validator
        directory = world_dir(spec.world)
        return str(directory) if (directory / "config.json").is_file() else None
    return spec.path or spec.name


def meta_model(spec: ModelSpec) -> Any | None:
    """The base as meta tensors (shapes only), or None when its config is not available here."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    location = config_location(spec)
    if location is None:
        return None
    try:
        config = AutoConfig.from_pretrained(location, trust_remote_code=spec.trust_remote_code)
    except OSError as exc:
        where = f"model.path {spec.path}" if spec.path else f"model {spec.name!r}"
        raise UserError(f"{where}: cannot read its config.json ({exc}); check the name or path") from None
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, trust_remote_code=spec.trust_remote_code)


def count_rows(suite: Suite) -> list[tuple[str, int | None, int, str]]:
    """``(label, trainable or None, base total, how counted)`` per adapter entry of ``suite``."""
    from peft_rlvr_bench.adapters import ApplyContext, count_parameters
    from peft_rlvr_bench.dry_run import suite_architecture
    from peft_rlvr_bench.memory import adapter_footprint
    from peft_rlvr_bench.registry import ADAPTERS

    arch, _ = suite_architecture(suite)
    rows: list[tuple[str, int | None, int, str]] = []
    seen: set[str] = set()
    for run in suite.runs:
        if run.adapter.label in seen or run.dependencies:  # dependent masks exist only after their run
            continue
        seen.add(run.adapter.label)
        adapter = ADAPTERS.get(run.adapter.name)()
        params = adapter.Params.model_validate(run.adapter.params)
        model = meta_model(suite.spec.model)
        if model is not None:
            total = count_parameters(model)[1]
            try:
                wrapped = adapter.apply(model, params, ApplyContext())
                rows.append((run.adapter.label, adapter.trainable_parameters(wrapped), total, "meta"))
                continue
            except (RuntimeError, NotImplementedError, ValueError):
                pass  # its set-up reads weight values: counted from the footprint below
        else:
            total = arch.parameters()
        trainable = adapter_footprint(run.adapter.name, run.adapter.params, arch).trainable
        rows.append((run.adapter.label, trainable, total, "footprint"))
    return rows


def render_params(rows: list[tuple[str, int | None, int, str]]) -> str:
    """One aligned line per adapter entry."""
    lines = []
    for label, trainable, total, how in rows:
        if trainable is None:
            lines.append(f"{label:<24} {'?':>12}  (chosen from the base's weights: known after the run)")
            continue
        note = "" if how == "meta" else "; from the adapter's declared footprint"
        lines.append(f"{label:<24} {trainable:>12,}  ({100 * trainable / total:.2f}% of {total:,}{note})")
    return "\n".join(lines)
