"""Safety: weights without pickles, no remote code unless asked, YAML without tags, names that
cannot leave results/, plugins only through the entry-point group, no shell commands."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import ADAPTERS, PLUGIN_GROUP
from peft_rlvr_bench.suite import ModelSpec, is_safe_name, load_suite

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted((REPO / "peft_rlvr_bench").rglob("*.py"))

FORBIDDEN = {
    r"shell\s*=\s*True": "a shell command line",
    r"\bos\.(system|popen)\(": "a shell command line",
    r"\byaml\.(load|unsafe_load|full_load)\(|FullLoader|UnsafeLoader": "YAML that can build objects",
    r"\bpickle\.loads?\(|\bdill\.": "unpickling",
    r"trust_remote_code\s*=\s*True": "remote code switched on in code",
    r"(?<![.\w])(eval|exec)\(": "evaluating strings",
}


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(REPO)) for p in SOURCES])
def test_the_package_has_no_unsafe_call(path: Path) -> None:
    text = path.read_text()
    for pattern, what in FORBIDDEN.items():
        match = re.search(pattern, text)
        assert match is None, f"{path.name}: {what}: {match.group() if match else ''}"
    for match in re.finditer(r"torch\.load\(", text):
        call = text[match.start() : match.start() + 300].split(")")[0]
        assert "weights_only=True" in call, f"{path.name}: torch.load without weights_only=True"
    if path.name != "registry.py":
        assert "import_module(" not in text, "only the registry imports modules by name (its built-ins)"


def test_trust_remote_code_is_off_unless_set_and_part_of_the_run_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    suite = (REPO / "suites" / "smoke.yaml").read_text()
    default = load_suite(REPO / "suites" / "smoke.yaml").runs[0]
    (tmp_path / "smoke.yaml").write_text(
        suite.replace("  name: tiny\n", "  name: tiny\n  trust_remote_code: true\n")
    )
    trusting = load_suite(tmp_path / "smoke.yaml").runs[0]
    assert not default.model.trust_remote_code and trusting.model.trust_remote_code
    assert default.identity()["model"]["trust_remote_code"] is False
    assert trusting.identity()["model"]["trust_remote_code"] is True and trusting.run_id != default.run_id

    import transformers

    from peft_rlvr_bench.models import load_base
    from peft_rlvr_bench.runner import execute

    seen: list[Any] = []

    class Stub:
        pad_token = "<pad>"

        @classmethod
        def from_pretrained(cls, location: str, **kwargs: Any) -> Any:
            seen.append(kwargs.get("trust_remote_code"))
            return cls()

        def to(self, device: str) -> Any:
            return self

    monkeypatch.setattr(transformers, "AutoTokenizer", Stub)
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Stub)
    load_base(ModelSpec(name="org/model", path=str(tmp_path)))
    load_base(ModelSpec(name="org/model", path=str(tmp_path), trust_remote_code=True))
    assert seen == [False, False, True, True], "tokenizer and model, off unless the suite sets it"

    def boom(*_: Any) -> None:
        raise RuntimeError("stop before training")

    monkeypatch.setattr(execute, "train_and_evaluate", boom)
    monkeypatch.setenv("PRB_OUTPUTS_DIR", str(tmp_path / "outputs"))
    assert execute.execute_run(default).spec["model"]["trust_remote_code"] is False, "recorded in the result"


@pytest.mark.parametrize("name", ["..", ".", "../x", "a/b", "/abs", "a\\b", "tiny\n", "", ".hidden", "a b"])
def test_names_that_could_leave_results_are_rejected(name: str) -> None:
    assert not is_safe_name(name)


def test_safe_names_pass() -> None:
    assert all(is_safe_name(name) for name in ("tiny", "tiny-peft", "math-1.5b", "lora_r8", "v2.1"))


def test_plugins_load_only_through_the_entry_point_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    from importlib import metadata

    from peft_rlvr_bench import registry

    groups: list[str] = []
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    monkeypatch.setattr(metadata, "entry_points", lambda group: groups.append(group) or [])
    registry.load_plugins()
    assert groups == [PLUGIN_GROUP]

    imported: list[str] = []
    real = importlib.import_module
    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name) or real(name, *a))
    for name in ("os:system", "peft_rlvr_bench.adapters.lora:LoRA", "subprocess"):
        with pytest.raises(UserError, match="unknown adapter"):
            ADAPTERS.get(name)
    assert imported == [], "a suite's string never names a module to import"
