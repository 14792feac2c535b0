"""The leaderboard's plots."""

from __future__ import annotations


def test_the_pareto_frontier_keeps_only_points_no_cheaper_point_beats() -> None:
    from peft_rlvr_bench.reporting.plots import _frontier

    points = [(10.0, 0.80), (1.0, 0.70), (5.0, 0.65), (100.0, 0.79), (50.0, 0.90)]
    assert _frontier(points) == [(1.0, 0.70), (10.0, 0.80), (50.0, 0.90)]


def test_a_method_keeps_its_colour_in_every_plot_of_a_suite(tmp_path, monkeypatch) -> None:
    """Every artist a plot draws for lora is lora's colour from method_colours (the bug: matplotlib's
    colour cycle gave it one colour in one figure and another in the next)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex

    from peft_rlvr_bench.reporting import plots
    from peft_rlvr_bench.reporting.results import CurvePoint, StepRecord
    from tests.helpers import hand_results

    runs = [
        r.model_copy(
            update={
                "learning_curve": [CurvePoint(update=u, in_domain=0.1 * u + 0.01 * i) for u in (0, 1, 2)],
                "train_curve": [StepRecord(step=s, reward_mean=0.1 * s + 0.01 * i) for s in (1, 2, 3)],
            }
        )
        for i, r in enumerate(hand_results.runs())
    ]
    board = hand_results.hand_board(results=runs)
    colours = plots.method_colours([row.method for row in board.rows if row.method != "base"])
    assert colours == plots.method_colours(list(reversed(colours)))  # order-independent
    seen: dict[str, set[str]] = {}
    close = plt.close

    def record(figure) -> None:
        for axis in figure.axes:
            for line in axis.get_lines():
                label = line.get_label().removesuffix(" (real run)")
                if label in colours:
                    seen.setdefault(label, set()).add(to_hex(line.get_color()))
            for collection in axis.collections:  # seed bands and error-bar points
                label = collection.get_label()
                if label in colours and len(collection.get_facecolor()):
                    seen.setdefault(label, set()).add(to_hex(collection.get_facecolor()[0], keep_alpha=False))
        close(figure)

    monkeypatch.setattr(plt, "close", record)
    written = plots.write_plots("hand", board, runs, tmp_path)
    assert {"learning_curves.png", "reward_curves.png", "pareto.png"} <= written
    assert seen["lora"] == {colours["lora"]} and seen["pissa"] == {colours["pissa"]}


def test_the_wall_time_panel_leaves_out_contended_methods(tmp_path) -> None:
    """DoRA timed at 270 s on a busy machine and 18 s on an idle one must not share a panel."""
    from unittest import mock

    import matplotlib.pyplot as plt

    from peft_rlvr_bench.reporting.plots import ParetoPoint, plot_pareto

    points = [
        ParetoPoint("lora", 0.6, None, None, 1e5, 10.0),
        ParetoPoint("dora", 0.6, None, None, 1e5, 270.0),
    ]
    with mock.patch("peft_rlvr_bench.reporting.plots._save", lambda figure, plt, path: figure):
        idle = plot_pareto("s", points, tmp_path)
        half = plot_pareto("s", points, tmp_path, contended={"dora"})
        busy = plot_pareto("s", points, tmp_path, contended={"lora", "dora"})
    assert len(idle.axes) == 2 and "busy" not in idle.axes[1].get_xlabel()
    assert len(half.axes) == 2 and "1 method(s) timed on a busy machine left out" in half.axes[1].get_xlabel()
    assert [line.get_xdata()[0] for line in half.axes[1].get_lines() if line.get_marker() == "o"] == [10.0]
    assert len(busy.axes) == 1 and "no wall-time panel" in busy._suptitle.get_text()
    plt.close("all")
