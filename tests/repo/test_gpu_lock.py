"""The GPU lock (requirements/gpu.txt, `make lock-gpu`): what it pins, how a resolution is judged,
and (with the network, `-m slow`) that the committed lock still resolves as locked."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from tests.helpers.paths import REPO

sys.path.insert(0, str(REPO / "requirements"))
import lock_gpu

LOCK = REPO / "requirements" / "gpu.txt"


def test_the_committed_lock_holds_the_chosen_versions_and_a_cuda_torch() -> None:
    lock = lock_gpu.read_lock(LOCK)
    assert lock_gpu.problems(lock) == []
    assert {name: lock[name] for name in lock_gpu.PINS} == lock_gpu.PINS
    assert "peft-rlvr-bench" not in lock, "the package itself is installed from the tree, not the lock"
    cpu = lock_gpu.read_lock(REPO / "requirements" / "cpu.txt")
    assert cpu["transformers"] != lock["transformers"], "why the GPU needs a lock of its own"


def test_the_top_requirements_are_the_packages_with_the_pins_in_place_of_their_ranges() -> None:
    top = lock_gpu.top_requirements()
    assert top[:4] == [f"{name}=={version}" for name, version in lock_gpu.PINS.items()]
    names = [lock_gpu._canonical(lock_gpu._requirement_name(r)) for r in top]
    assert len(names) == len(set(names)), "a pinned package's own range is dropped"
    assert {"lm-eval", "peft", "math-verify", "pytest"} <= set(names)


def test_a_resolution_is_judged_by_its_pins_its_torch_build_and_the_lock() -> None:
    good = dict(lock_gpu.PINS) | {"nvidia-nccl-cu13": "2.29.7", "peft": "0.21.2"}
    assert lock_gpu.problems(good, dict(good)) == []
    cpu_torch = good | {"torch": "2.13.0+cpu"}
    assert any("local build 2.13.0+cpu" in p for p in lock_gpu.problems(cpu_torch))
    no_cuda = {k: v for k, v in good.items() if not k.startswith("nvidia-")}
    assert lock_gpu.problems(no_cuda) == ["no nvidia-* package: torch would have no CUDA runtime"]
    moved = good | {"transformers": "5.24.0"}
    assert lock_gpu.problems(moved, good) == [
        "transformers resolved to 5.24.0, not 5.17.0",
        "transformers: the lock has 5.17.0, the resolution 5.24.0",
    ]
    added = good | {"extra-package": "1.0"}
    assert lock_gpu.problems(added, good) == ["extra-package: the lock has None, the resolution 1.0"]


def test_a_rendered_lock_reads_back_as_the_same_versions(tmp_path: Path) -> None:
    versions = {"b-pkg": "2.0", "a-pkg": "1.0"}
    text = lock_gpu.render(versions)
    assert text.index("a-pkg==1.0") < text.index("b-pkg==2.0")
    (tmp_path / "gpu.txt").write_text(text)
    assert lock_gpu.read_lock(tmp_path / "gpu.txt") == versions


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_the_committed_lock_resolves_as_locked_in_a_dry_run() -> None:
    """A minute or more (metadata of about 260 packages); skipped without the network."""
    if not _pypi_reachable():
        pytest.skip("pypi.org is not reachable: the dry-run resolution needs the package index")
    assert lock_gpu.main(["--check", str(LOCK)]) == 0
