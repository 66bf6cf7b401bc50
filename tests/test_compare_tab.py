"""The Compare tab reads plainly: decade ticks, notes in empty panels, the budget its figures come from,
family names on one line. Nothing here trains: the results are the shipped evaluation, or edited copies."""

from __future__ import annotations

import copy
import math

import pytest

gr = pytest.importorskip("gradio")
from playground.app import views  # noqa: E402
from playground.app.plots import comparison_figure  # noqa: E402
from playground.app.tabs import compare  # noqa: E402
from playground.evaluation.compare import family_rows  # noqa: E402
from playground.models import pretrained  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # gr.Warning outside a request warns


@pytest.fixture(scope="module")
def shipped() -> dict:
    result = views.shipped_evaluation()
    if result is None:
        pytest.skip("no shipped evaluation")
    return result


def _with(result: dict, **columns) -> dict:
    """A copy of `result` with `columns` ({key: {family: value}}) changed."""
    changed = copy.deepcopy(result)
    for key, values in columns.items():
        for family, value in values.items():
            changed[family][key] = value
    return changed


def _rows(result: dict) -> list[dict]:
    return list(family_rows(result).values())


def _families(result: dict) -> list[str]:
    return [row["family"] for row in _rows(result)]


def _notes(figure) -> dict[str, str]:
    """The notes inside panels, by the axis they sit on ("x2", "x3")."""
    return {a.xref.removesuffix(" domain"): a.text for a in figure.layout.annotations if a.xref.endswith("domain")}


def test_log_axes_show_whole_decades_written_out(shipped):
    figure = comparison_figure(shipped)
    layout = figure.layout
    for axis in (layout.yaxis, layout.xaxis2, layout.yaxis2):
        assert axis.type == "log" and axis.tickmode == "array", axis
        assert len(axis.tickvals) >= 2
        assert all(math.isclose(math.log10(v), round(math.log10(v))) for v in axis.tickvals)  # no 2s or 5s
        assert [float(t.replace(",", "")) for t in axis.ticktext] == list(axis.tickvals)
        assert list(axis.range) == [round(math.log10(axis.tickvals[0])), round(math.log10(axis.tickvals[-1]))]
    speeds = [row["sample_ms_per_image"] for row in _rows(shipped)]
    assert 10 ** layout.yaxis.range[0] <= min(speeds) and max(speeds) <= 10 ** layout.yaxis.range[1]


def test_every_label_has_room(shipped):
    figure = comparison_figure(shipped)
    layout = figure.layout
    axes = [layout[f"{xy}axis{n}"] for xy in "xy" for n in ("", "2", "3")]
    assert all(axis.automargin for axis in axes) and all(axis.title.text for axis in axes)
    titles = [a.text for a in layout.annotations if a.xref == "paper"]
    assert len(titles) == 3 and max(map(len, titles)) <= 32  # each fits above its third of a 1400 px page
    assert layout.height >= 500 and layout.margin.l >= 60 and layout.margin.b >= 120


def test_an_empty_panel_says_why(shipped):
    nothing = _with(shipped, validity=dict.fromkeys(_families(shipped), 0.0))
    nothing = _with(nothing, coverage=dict.fromkeys(_families(shipped), 0.0))
    note = _notes(comparison_figure(nothing)).get("x3", "")
    assert "valid = 0" in note and f"after {views.duration(shipped['meta']['budget']['minutes'])} of training" in note
    assert list(comparison_figure(nothing).layout.yaxis3.range) == [0, 1]

    some = _with(nothing, validity={"vae": 0.4}, coverage={"vae": 0.1})
    assert "x3" not in _notes(comparison_figure(some))

    no_bits = {name: shipped[name] for name in ("gan", "ebm")}
    note = _notes(comparison_figure(no_bits)).get("x2", "")
    assert "No family here gives bits/dim" in note and "gan: none" in note
    assert "x2" not in _notes(comparison_figure(shipped))


def test_the_status_names_the_budget_of_the_evaluation_from_its_meta(shipped, monkeypatch):
    half_minute = copy.deepcopy(shipped)
    half_minute["meta"]["budget"] |= {"minutes": 0.5, "seeds": 2, "samples": 1234}
    monkeypatch.setattr(views, "shipped_evaluation", lambda: half_minute)
    *_, status = compare.compare_shipped()
    assert status.startswith("✅ shipped evaluation: 2 seeds × 30 s of training per family, 1,234 samples")
    recipes = sorted({pretrained.RECIPES[family].minutes for family in _families(shipped)})  # 8-10 min
    assert f"not from the Generate tab's shipped models, which trained {recipes[0]:g}–{recipes[-1]:g} min" in status
    assert "python benchmarks/models.py" in status

    monkeypatch.setattr(views, "shipped_evaluation", lambda: None)
    *outputs, status = compare.compare_shipped()
    assert status.startswith("⚠️ no shipped evaluation") and "playground/evaluation/results/evaluation.json" in status


def test_a_live_run_says_how_long_it_took(shipped, monkeypatch):
    gan = _with({"gan": shipped["gan"]}, train_minutes={"gan": 0.1}, runs={"gan": shipped["gan"]["runs"][:1]})

    def stream(families, minutes, seeds, samples):
        yield {}, 0, 1
        yield gan, 1, 1

    monkeypatch.setattr(views, "evaluation_stream", stream)
    *_, status = list(compare.compare_live(["gan"], 0.1, 1, 16, progress=lambda *a, **k: None))[-1]
    assert status.startswith("✅ live evaluation of 1 families (1 seed(s) × 6 s of training each) took ")
    assert "models trained for 6 s per run" in status and "Generate tab" in status


@pytest.fixture(scope="module")
def tab() -> gr.Blocks:
    with gr.Blocks() as demo:
        compare.build()
    return demo


def test_the_examples_say_what_a_run_takes_in_all(tab):
    (examples,) = [b for b in tab.blocks.values() if isinstance(b, gr.Dataset) and b.label == "Live-run examples"]
    for label, (_, minutes, *_) in zip(examples.sample_labels, examples.samples):  # families, minutes, seeds, samples
        assert f"{views.duration(minutes)} each, about " in label and label.endswith(" in all"), label
        assert len(label) <= 60, label  # Gradio shows no more of an example's label


def test_family_names_get_a_column_wide_enough(tab):
    table = next(b for b in tab.blocks.values() if isinstance(b, gr.Dataframe) and b.elem_id == "cmp-table")
    assert table.column_widths[0] == compare.FAMILY_WIDTH == "120px"  # "diffusion" in monospace, and padding
    assert len(table.column_widths) == len(views.EVALUATION_HEADERS) and table.pinned_columns == 1
    assert any(isinstance(b, gr.Markdown) and "lecture-table" in (b.elem_classes or []) for b in tab.blocks.values())


def test_live_runs_render_their_scenes_once(monkeypatch):
    calls = []
    monkeypatch.setattr(views, "load_world", lambda *args, **kwargs: calls.append(args) or object())
    views.live_data.cache_clear()
    try:
        assert views.live_data() is views.live_data() and calls == [("exact", views.LIVE_SCENES)]
    finally:
        views.live_data.cache_clear()
