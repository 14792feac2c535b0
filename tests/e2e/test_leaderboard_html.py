"""leaderboard.html in a real browser: Debian's chromium, headless, on hand-made results.

``--dump-dom`` prints the DOM after the page's scripts ran, so the sort is driven through the
page's own ``#sort=<column>:<asc|desc>`` hook and through its real click handlers (a copy of the
page with a script appended that clicks a header). Chromium comes from ``.ci/install-browser``
(``make browser``, run by ``make test`` and ``.ci/run``); without it the tests skip and say why,
unless ``PRB_REQUIRE_BROWSER`` is set (CI), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from peft_rlvr_bench.reporting.leaderboard import Leaderboard, load_leaderboard, write_leaderboard
from peft_rlvr_bench.reporting.results import CurvePoint, KLScore, RoleScore, RunResult, TaskScore
from tests.helpers.hand_results import SUITE, base, result
from tests.helpers.paths import REPO

INSTALL = REPO / ".ci" / "install-browser"


def _find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium() -> str:
    """The chromium binary, installed through .ci/install-browser when missing (root or sudo)."""
    if _find_chromium() is None and shutil.which("apt-get"):
        subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    found = _find_chromium()
    if found is None:
        reason = "no chromium, and .ci/install-browser could not install it (needs apt-get as root or sudo)"
        if os.environ.get("PRB_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def _curve(final: float) -> list[CurvePoint]:
    return [CurvePoint(update=u, in_domain=final * u / 100) for u in (0, 50, 100)]


def _runs() -> list[RunResult]:
    """Four methods on three seeds, an extrapolation of one of them and a failed run.

    Train seconds 7, 9, 12 and 100 sort differently as text ("100" < "12" < "7" < "9"), so a
    correct order proves the sort is numeric.
    """
    spec = {
        "lora": ((0.60, 0.62, 0.64), 12.0),
        "pissa": ((0.70, 0.71, 0.72), 100.0),
        "dora": ((0.50, 0.55, 0.60), 9.0),
        "vera": ((0.40, 0.41, 0.45), 7.0),
    }
    runs = []
    for method, (scores, seconds) in spec.items():
        for seed, score in enumerate(scores):
            run = result(method, seed, score, score - 0.1, 0.8 - score / 10, train_seconds=seconds)
            runs.append(run.model_copy(update={"learning_curve": _curve(score), **_depth(score)}))
    for seed, score in enumerate((0.58, 0.6, 0.59)):
        run = result("lora+relex@15", seed, score, 0.5, 0.75, trainable_params=0)
        info = {"source_method": "lora", "target": 100, "updates_used": 15, "steps_saved": 20 + seed}
        runs.append(run.model_copy(update={"extrapolation": info, "timings": {}}))
    runs.append(result("full", 0, 0.1, 0.1, 0.1, status="failed", reason="CUDA out of memory"))
    return runs


def _depth(score: float) -> dict[str, object]:
    """Two in-domain tasks, KL drift and weight geometry: every column group has columns."""
    tasks = {
        "add": TaskScore(accuracy=score + 0.02, n=50),
        "add_words": TaskScore(accuracy=score - 0.02, n=50),
    }
    geometry = {
        "headline": {
            "update_sparsity": 0.5 + score / 4,
            "means": {
                "top1_energy_share": 0.2,
                "spectral_shift": score / 100,
                "principal_angle_left_deg@16": 3.0,
            },
        }
    }
    return {
        "metrics": {
            **result("x", 0, score, score - 0.1, 0.8 - score / 10).metrics,
            "in_domain": RoleScore.from_tasks(tasks),
        },
        "kl_to_base": KLScore(token_mean=score / 10, sequence_mean=score, n_items=8, n_tokens=40),
        "geometry": geometry,
    }


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Leaderboard]:
    from peft_rlvr_bench.reporting.results import base_result_path, run_result_path, save_result

    root = tmp_path_factory.mktemp("html")
    save_result(base(), base_result_path(root, SUITE))
    for run in _runs():
        save_result(run, run_result_path(root, SUITE, run.run_id))
    files = write_leaderboard(root / SUITE, SUITE)
    return files.html, load_leaderboard(root / SUITE, SUITE)[0]


def _run_chromium(binary: str, profile: Path, *args: str) -> str:
    command = [
        binary,
        "--headless",
        "--disable-gpu",
        "--no-sandbox",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def _dump(binary: str, tmp_path: Path, url: str) -> str:
    return _run_chromium(binary, tmp_path / "profile", "--dump-dom", url)


def _leaderboard_methods(dom: str) -> list[str]:
    table = dom[dom.index('<table id="leaderboard"') : dom.index("</table>")]
    return re.findall(r'<tr [^>]*data-method="([^"]*)"', table)


def _expected(board: Leaderboard, column: str, order: str) -> list[str]:
    """Rows sorted by the raw value, missing values last either way, ties in table order."""
    if column == "method":
        ranked = sorted(board.rows, key=lambda row: row.method.lower(), reverse=order == "desc")
        return [row.method for row in ranked]
    present = [row for row in board.rows if row.value(column) is not None]
    missing = [row.method for row in board.rows if row.value(column) is None]
    ranked = sorted(present, key=lambda row: row.value(column), reverse=order == "desc")
    return [row.method for row in ranked] + missing


@pytest.mark.parametrize(
    ("column", "order"),
    [
        ("in_domain", "asc"),
        ("in_domain", "desc"),
        ("train_seconds", "asc"),
        ("forgetting", "desc"),
        ("method", "asc"),
    ],
)
def test_sort_hook_orders_every_row_numerically(
    chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path, column: str, order: str
) -> None:
    html, board = page
    dom = _dump(chromium, tmp_path, f"{html.as_uri()}#sort={column}:{order}")
    methods = _leaderboard_methods(dom)
    assert len(methods) == 6, "base, four methods and one extrapolation"
    assert sorted(methods) == sorted(["base", "lora", "pissa", "dora", "vera", "lora+relex@15"])
    assert methods == _expected(board, column, order)
    sorted_header = re.search(r'<th data-key="([^"]+)"[^>]*aria-sort="(\w+)"', dom)
    assert sorted_header is not None
    assert sorted_header.groups() == (column, "ascending" if order == "asc" else "descending")
    if column == "train_seconds":
        assert methods == ["vera", "dora", "lora", "pissa", "base", "lora+relex@15"], "numeric, missing last"


def test_header_clicks_toggle_between_better_first_and_reverse(
    chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path
) -> None:
    html, board = page
    # The page's own click handlers, driven by a script appended to a copy of the page.
    clicker = """<script>
      var header = document.querySelector('#leaderboard th[data-key="forgetting"]');
      function order() {
        return Array.prototype.map.call(
          document.querySelectorAll("#leaderboard tbody tr[data-method]"),
          function (r) { return r.dataset.method; }
        ).join(",");
      }
      header.click();
      document.body.setAttribute("data-after-one", order());
      header.click();
      document.body.setAttribute("data-after-two", order());
    </script></body>"""
    copy = tmp_path / "clicked.html"
    copy.write_text(html.read_text().replace("</body>", clicker))
    dom = _dump(chromium, tmp_path, copy.as_uri())
    after_one = re.search(r'data-after-one="([^"]*)"', dom)
    after_two = re.search(r'data-after-two="([^"]*)"', dom)
    assert after_one is not None and after_two is not None
    # Forgetting is lower-is-better: the first click puts the least forgetting first.
    assert after_one.group(1).split(",") == _expected(board, "forgetting", "asc")
    assert after_two.group(1).split(",") == _expected(board, "forgetting", "desc")


def test_page_shows_tooltips_plot_and_failed_runs(
    chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path
) -> None:
    html, board = page
    dom = _dump(chromium, tmp_path, html.as_uri())
    assert _leaderboard_methods(dom) == [row.method for row in board.rows], "no hash: the table order"
    assert 'title="In-domain (higher is better): greedy accuracy' in dom
    assert '<img src="learning_curves.png"' in dom and (html.parent / "learning_curves.png").is_file()
    assert "<code>full-s0</code>: failed (CUDA out of memory)" in dom


def test_screenshot(chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path) -> None:
    html, _ = page
    shot = tmp_path / "leaderboard.png"
    _run_chromium(
        chromium,
        tmp_path / "profile",
        "--hide-scrollbars",
        "--window-size=1400,900",
        f"--screenshot={shot}",
        f"{html.as_uri()}#sort=in_domain:desc",
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")


def _with_script(html: Path, tmp_path: Path, script: str) -> str:
    """The page with ``script`` run after its own (a copy, so the page stays as written)."""
    copy = tmp_path / "probed.html"
    copy.write_text(html.read_text().replace("</body>", f"<script>{script}</script></body>"))
    return copy.as_uri()


def test_rows_expand_into_per_task_rows_that_follow_their_row(
    chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path
) -> None:
    html, _ = page
    closed = _dump(chromium, tmp_path, html.as_uri())
    # lora's tasks: add and add_words in-domain, one out-of-domain and one forgetting task.
    assert len(re.findall(r'<tr class="task" data-parent="lora" hidden', closed)) == 4
    dom = _dump(chromium, tmp_path, f"{html.as_uri()}#expand=all&sort=in_domain:asc")
    table = dom[dom.index('<table id="leaderboard"') : dom.index("</table>")]
    rows = re.findall(
        r'<tr (?:data-order="\d+" data-method="([^"]*)"|class="task" data-parent="([^"]*)"( hidden)?)', table
    )
    assert not any(hidden for _, _, hidden in rows), "all expanded"
    # Each task row sits right under its own row, after the sort too.
    current = None
    for method, parent, _ in rows:
        current = method or current
        assert not parent or parent == current
    lora = table[table.index('data-parent="lora"') :]
    # lora's in-domain seeds 0.60, 0.62, 0.64: add is each + 0.02, add_words each - 0.02.
    assert '<td>add (in-domain)</td><td>3</td><td class="g-accuracy">64.0</td>' in lora
    assert '<td>add_words (in-domain)</td><td>3</td><td class="g-accuracy">60.0</td>' in lora


def test_filter_box_and_column_groups(chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path) -> None:
    html, _ = page
    dom = _dump(chromium, tmp_path, f"{html.as_uri()}#filter=ora&hide=geometry,cost")
    hidden = set(re.findall(r'<tr data-order="\d+" data-method="([^"]*)"[^>]*hidden', dom))
    assert hidden == {"base", "pissa", "vera"}
    assert re.search(r'<body class="hide-geometry hide-cost"', dom)
    assert re.search(r'<input type="checkbox" data-group="geometry">', dom), "unchecked"
    for group in ("accuracy", "cost", "drift", "geometry"):
        assert f'data-group="{group}"' in dom and f'class="g-{group}"' in dom
    assert '<a href="runs/lora-s0.json"' in dom and '<a href="base.json"' in dom
    assert re.search(r'<footer id="provenance">.*<dt>versions</dt>', dom, re.S)


def test_every_column_is_reachable_by_scrolling_the_table(
    chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path
) -> None:
    html, _ = page
    probe = """
      var box = document.querySelector(".scroll");
      box.scrollLeft = box.scrollWidth;
      var heads = document.querySelectorAll("#leaderboard th");
      var last = heads[heads.length - 1].getBoundingClientRect(), frame = box.getBoundingClientRect();
      document.body.setAttribute("data-probe", [box.scrollWidth > box.clientWidth,
        last.right <= frame.right + 1, heads[heads.length - 1].dataset.key].join(","));
    """
    dom = _run_chromium(
        chromium,
        tmp_path / "profile",
        "--window-size=1400,900",
        "--dump-dom",
        _with_script(html, tmp_path, probe),
    )
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found is not None and found.group(1) == "true,true,principal_angle_16"


def test_screenshot_with_per_task_rows(chromium: str, page: tuple[Path, Leaderboard], tmp_path: Path) -> None:
    html, _ = page
    for name, view in (
        ("expanded", "expand=all&sort=in_domain:desc"),
        ("drift-geometry", "hide=accuracy,cost"),
    ):
        shot = tmp_path / f"leaderboard-{name}.png"
        _run_chromium(
            chromium,
            tmp_path / "profile",
            "--window-size=1400,900",
            f"--screenshot={shot}",
            f"{html.as_uri()}#{view}",
        )
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
