"""The registry: lookups, lazy built-ins, suggestions and duplicate names."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest

from peft_rlvr_bench import registry as registry_module
from peft_rlvr_bench.errors import UserError
from peft_rlvr_bench.registry import ADAPTERS, PLUGIN_GROUP, RECIPES, REGISTRIES, Registry, did_you_mean


def test_builtins_are_listed_and_resolve() -> None:
    assert {"full", "lora"} <= set(ADAPTERS.names())
    assert {"grpo", "dr_grpo", "dapo"} <= set(RECIPES.names())
    for registry in REGISTRIES.values():
        for name in registry.names():
            assert registry.get(name) is registry.get(name)


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(UserError, match=r"unknown adapter 'lorra' \(did you mean 'lora'\?\)"):
        ADAPTERS.get("lorra")
    assert did_you_mean("zzzz", ["lora", "full"]) == ""


def test_decorator_registration_and_duplicates() -> None:
    registry: Registry[object] = Registry("widget")

    @registry.register("a")
    class A:
        pass

    assert registry.get("a") is A and registry.names() == ["a"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register("a")(type("Other", (), {}))
    registry.register_lazy("b", "collections:OrderedDict")
    from collections import OrderedDict

    assert registry.get("b") is OrderedDict
    with pytest.raises(ValueError, match="already registered"):
        registry.register_lazy("b", "collections:deque")


def test_entry_point_plugins_register_through_their_decorators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prb_demo_plugin.py").write_text(
        "from peft_rlvr_bench.registry import register_adapter\n"
        "from peft_rlvr_bench.adapters.full import FullFineTuning\n"
        "@register_adapter('demo_full')\n"
        "class DemoFull(FullFineTuning):\n"
        "    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    group = registry_module.PLUGIN_GROUP
    entry_point = metadata.EntryPoint(name="demo", value="prb_demo_plugin", group=group)
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: [entry_point])
    monkeypatch.setattr(registry_module, "_plugins_loaded", False)
    try:
        assert "demo_full" in ADAPTERS.names()
        assert ADAPTERS.get("demo_full").__name__ == "DemoFull"
    finally:
        ADAPTERS._loaded.pop("demo_full", None)


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


def test_a_family_resolves_prefixed_names_through_its_factory_once() -> None:
    registry: Registry[object] = Registry("widget")
    registry.register_family("w", "collections:Counter", argument="letters")
    assert "w:abba" in registry and "v:abba" not in registry and "w" not in registry
    member = registry.get("w:abba")
    assert member == {"a": 2, "b": 2} and registry.get("w:abba") is member
    assert registry.names() == [] and registry.families() == ["w:<letters>"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register_family("w", "collections:OrderedDict")
    with pytest.raises(UserError, match="unknown widget 'v:abba'"):
        registry.get("v:abba")


def _fake_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sources: dict[str, str]
) -> list[metadata.EntryPoint]:
    """Installs each {package: module source} as a distribution with a plugin entry point."""
    monkeypatch.syspath_prepend(str(tmp_path))
    entry_points = []
    for package, source in sources.items():
        module = package.replace("-", "_")
        (tmp_path / f"{module}.py").write_text(source)
        info = tmp_path / f"{module}-0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
        (info / "entry_points.txt").write_text(f"[{PLUGIN_GROUP}]\n{module} = {module}\n")
        entry_points += list(metadata.distribution(package).entry_points)
    monkeypatch.setattr(registry_module.metadata, "entry_points", lambda group: entry_points)
    monkeypatch.setattr(registry_module, "_plugins_loaded", False)
    monkeypatch.setattr(registry_module, "PLUGIN_FAILURES", [])
    return entry_points


def test_a_plugin_that_fails_to_import_is_one_line_and_the_rest_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _fake_plugins(tmp_path, monkeypatch, {"prb-broken": "import no_such_module_anywhere\n"})
    assert "lora" in ADAPTERS.names() and ADAPTERS.get("lora").__name__ == "LoRA"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "prb-broken" in err and "no_such_module_anywhere" in err, err
    with pytest.raises(UserError, match=r"unknown adapter 'gone'.*plugin package prb-broken"):
        ADAPTERS.get("gone")


def test_a_name_clash_names_both_packages_only_when_the_name_is_used_or_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    take = (
        "from peft_rlvr_bench.registry import register_adapter\n"
        "@register_adapter({name!r})\n"
        "class Taken:\n"
        "    pass\n"
    )
    _fake_plugins(
        tmp_path,
        monkeypatch,
        {
            "prb-takes-lora": take.format(name="lora"),
            "prb-first": take.format(name="clash_demo"),
            "prb-second": take.format(name="clash_demo"),
        },
    )
    try:
        assert ADAPTERS.get("full").__name__ == "FullFineTuning", "other names are unaffected"
        with pytest.raises(
            UserError, match=r"'lora' is registered by both peft-rlvr-bench \(built-in\) and prb-takes-lora"
        ):
            ADAPTERS.get("lora")
        with pytest.raises(UserError, match=r"'clash_demo' is registered by both prb-first and prb-second"):
            ADAPTERS.get("clash_demo")
        with pytest.raises(UserError, match="registered by both"):
            ADAPTERS.check_clashes()
        RECIPES.check_clashes()  # no clash among recipes: listing them works
    finally:
        ADAPTERS._loaded.pop("clash_demo", None)
        ADAPTERS._owners.pop("clash_demo", None)
        ADAPTERS._clashes.clear()
