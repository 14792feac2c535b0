"""Loading base models: remote code only when asked, and part of the run id."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from peft_rlvr_bench.suite import ModelSpec, load_suite
from tests.helpers.paths import REPO


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
