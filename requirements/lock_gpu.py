"""The GPU lock, ``requirements/gpu.txt``: a full resolution of the package with vLLM and its CUDA
torch, and the check that it still resolves. ``make lock-gpu`` writes it; ``make lock-gpu CHECK=1``
checks it.

    python requirements/lock_gpu.py --write requirements/gpu.txt
    python requirements/lock_gpu.py --check requirements/gpu.txt

Both resolve with ``pip install --dry-run --ignore-installed --report``: pip fetches metadata only
(no wheels, no GPU) and resolves as for a fresh environment on this machine's Python and platform
(Linux x86_64, like a GPU host). ``--isolated`` leaves out this machine's pip configuration (a
find-links folder whose ``torch+cpu`` wheel would satisfy ``torch==2.13.0``, a constraints file),
so the resolution is the one a CUDA machine gets from PyPI. A CA bundle can be given with
``--cert``; else ``$PIP_CERT`` or pip's configured ``global.cert`` is passed on (trust is kept
where the rest of the configuration is dropped).

Why a lock of its own: vLLM pins its torch and caps transformers (vLLM 0.31: ``torch==2.13.0``,
``transformers>=5.10.4,<5.18``), so the package with its ``vllm`` extra does not resolve next to
the CPU lock's transformers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import tomllib  # Python 3.11+: the lock is made on the dev machines' 3.11

REPO = Path(__file__).resolve().parents[1]
PINS = {
    "vllm": "0.31.0",  # the newest vLLM TRL 1.16 supports (trl/import_utils.py)
    "torch": "2.13.0",  # what vLLM 0.31 pins; PyPI's Linux wheel is the CUDA 13 build
    "transformers": "5.17.0",  # vLLM 0.31 needs >=5.10.4,<5.18
    "trl": "1.16.0",
}
"""The versions chosen; everything else is what pip resolves around them."""
EXTRAS = ("dev",)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def top_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    """The package's dependencies and its ``dev`` extra, with ``PINS`` in place of their ranges."""
    project = tomllib.loads(pyproject.read_text())["project"]
    found = list(project["dependencies"])
    for extra in EXTRAS:
        found += project["optional-dependencies"][extra]
    pinned = {_canonical(name) for name in PINS}
    kept = [r for r in found if _canonical(_requirement_name(r)) not in pinned]
    return [f"{name}=={version}" for name, version in PINS.items()] + kept


def _requirement_name(requirement: str) -> str:
    for index, char in enumerate(requirement):
        if not (char.isalnum() or char in "-_."):
            return requirement[:index]
    return requirement


def resolve(requirements: Sequence[str], cert: str | None = None) -> dict[str, Any]:
    """pip's ``--report`` of a dry-run install of ``requirements`` (strings; ``-r FILE`` allowed)."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        command = [sys.executable, "-m", "pip", "--isolated", "install", "--dry-run", "--ignore-installed"]
        command += ["--quiet", "--report", str(report)]
        cert = cert or os.environ.get("PIP_CERT") or _configured_cert()
        if cert:
            command += ["--cert", cert]
        done = subprocess.run([*command, *requirements], capture_output=True, text=True, cwd=scratch)
        if done.returncode != 0:
            raise SystemExit(f"pip could not resolve the GPU stack:\n{done.stderr[-4000:]}")
        return json.loads(report.read_text())


def _configured_cert() -> str | None:
    """This machine's pip CA bundle (``pip config get global.cert``): trust, not resolution, so
    it is kept where ``--isolated`` drops the rest of the configuration."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "config", "get", "global.cert"], capture_output=True, text=True
    )
    value = done.stdout.strip()
    return value if done.returncode == 0 and value and Path(value).is_file() else None


def installed(report: Mapping[str, Any]) -> dict[str, str]:
    """Canonical name -> version of every package the report would install."""
    return {_canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}


def problems(versions: Mapping[str, str], lock: Mapping[str, str] | None = None) -> list[str]:
    """What is wrong with a resolution: a pin not honoured, a CPU-only torch, and (given the lock
    it came from) any package added, dropped or moved."""
    found = []
    for name, version in PINS.items():
        if versions.get(name) != version:
            found.append(f"{name} resolved to {versions.get(name)}, not {version}")
    if "+" in versions.get("torch", ""):
        found.append(f"torch is the local build {versions['torch']}, not PyPI's CUDA wheel")
    if not any(name.startswith("nvidia-") for name in versions):
        found.append("no nvidia-* package: torch would have no CUDA runtime")
    if lock is not None:
        for name in sorted(set(lock) | set(versions)):
            if lock.get(name) != versions.get(name):
                found.append(f"{name}: the lock has {lock.get(name)}, the resolution {versions.get(name)}")
    return found


def render(versions: Mapping[str, str]) -> str:
    python = f"{platform.python_version()} {platform.system()} {platform.machine()}"
    head = [
        f"# Generated by `make lock-gpu` (requirements/lock_gpu.py: a clean resolution on Python {python});",
        "# do not edit. The GPU install (docs/scaling.md), in a fresh venv on a CUDA machine:",
        "#   pip install -r requirements/gpu.txt -e '.[vllm,dev]'",
        "# vllm, torch (CUDA 13: NVIDIA driver >= 580), transformers and trl are chosen; the rest resolved.",
    ]
    return "\n".join(head + [f"{name}=={versions[name]}" for name in sorted(versions)]) + "\n"


def read_lock(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {
        _canonical(name): version for name, _, version in (line.partition("==") for line in lines if line)
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="resolve and write the lock here")
    action.add_argument("--check", type=Path, help="resolve this lock again and compare")
    parser.add_argument("--cert", help="a CA bundle for pip (default: $PIP_CERT)")
    args = parser.parse_args(argv)
    if args.write:
        versions = installed(resolve(top_requirements(), args.cert))
        wrong = problems(versions)
        if wrong:
            raise SystemExit("the resolution is not a GPU stack: " + "; ".join(wrong))
        args.write.write_text(render(versions))
        print(f"{args.write}: {len(versions)} packages")
        return 0
    lock = read_lock(args.check)
    wrong = problems(installed(resolve(["-r", str(args.check.resolve())], args.cert)), lock)
    if wrong:
        print(f"{args.check} does not resolve as locked:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 1
    print(
        f"{args.check}: resolves, {len(lock)} packages as locked (vllm, CUDA torch, transformers, trl pinned)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
