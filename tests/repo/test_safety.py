"""Safety of the package's sources: no pickles, shell commands or dynamic code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

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
