"""Plotly figures built by plain functions: the app shows them, the tests check their traces.

Every figure has a title, labelled axes, a colour bar or legend, and the data overlaid.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from playground.uncertainty.study import DISCRIMINATIVE, GENERATIVE, PLOT_EXTENT, WORLD_RANGE, Study, grid
from worlds.scene import color_rgb


def _css(color: str, alpha: float = 1.0) -> str:
    r, g, b = color_rgb(color)
    return f"rgba({r},{g},{b},{alpha})"


def _class_heatmaps(axis: np.ndarray, proba: np.ndarray, confidence: np.ndarray, colors, row_col, name: str):
    """One heatmap per class, drawn only where that class wins, shaded by `confidence`
    (white = 0, the class's colour = 1): the decision regions and how sure each one is."""
    side = len(axis)
    winner = proba.argmax(1)
    traces = []
    for k, color in enumerate(colors):
        z = np.where(winner == k, confidence, np.nan).reshape(side, side)
        traces.append(
            go.Heatmap(
                x=axis,
                y=axis,
                z=z,
                coloraxis=f"coloraxis{k + 1}",
                name=f"{name}: {color}",
                hovertemplate=f"x=%{{x:.2f}}, y=%{{y:.2f}}<br>{color}: %{{z:.3f}}<extra>{name}</extra>",
            )
        )
    return [(t, *row_col) for t in traces]


def decision_figure(
    study: Study,
    discriminative: str = "mlp",
    generative: str = "flow",
    side: int = 121,
    probe: tuple[float, float] | None = None,
) -> go.Figure:
    """The lecture's three panels: the data; a discriminative model's p(y | x), confident
    everywhere; a generative model's p(y | x) p(known | x), confident only where p(x) is high."""
    if discriminative not in study.discriminative:
        raise ValueError(
            f"no discriminative model {discriminative!r} in this study; it has {', '.join(study.discriminative)}"
        )
    if generative not in study.generative:
        raise ValueError(f"no generative model {generative!r} in this study; it has {', '.join(study.generative)}")
    axis, points = grid(side)
    colors = study.layout.colors
    disc_proba = study.discriminative[discriminative].predict_proba(points)
    gen = study.generative[generative]
    gen_proba = gen.predict_proba(points)
    known = gen.known_probability(points)
    fig = make_subplots(
        1,
        3,
        horizontal_spacing=0.06,
        subplot_titles=(
            f"Data: {study.layout.name}<br><sup>{study.layout.description}</sup>",
            f"Discriminative: p(y|x)<br><sup>{DISCRIMINATIVE[discriminative]}</sup>",
            f"Generative: p(y|x)·p(known|x)<br><sup>{GENERATIVE[generative]}</sup>",
        ),
    )
    traces = _class_heatmaps(axis, disc_proba, disc_proba.max(1), colors, (1, 2), discriminative) + _class_heatmaps(
        axis, gen_proba, gen_proba.max(1) * known, colors, (1, 3), generative
    )
    for trace, row, col in traces:
        fig.add_trace(trace, row, col)
    # where p(known | x) = 1/2, i.e. p(x) equals the flat background density
    fig.add_trace(
        go.Contour(
            x=axis,
            y=axis,
            z=known.reshape(side, side),
            contours=dict(start=0.5, end=0.5, coloring="none"),
            line=dict(color="black", dash="dash", width=1.5),
            showscale=False,
            hoverinfo="skip",
            name="p(known|x) = ½",
            showlegend=True,
        ),
        1,
        3,
    )
    # the data, on every panel, with both models' probabilities on hover
    x, labels = study.train.features, study.train.labels
    d_train = study.discriminative[discriminative].predict_proba(x)
    g_train = gen.predict_proba(x)
    hover = "<br>".join(
        [
            "x=%{x:.2f}, y=%{y:.2f}",
            "p(y|x) discriminative: %{customdata[1]}",
            "p(y|x) generative: %{customdata[2]}",
            "log p(x): %{customdata[3]:.2f}<extra></extra>",
        ]
    )
    log_px = gen.log_px(x)
    for k, color in enumerate(colors):
        idx = np.flatnonzero(labels == k)
        custom = [[int(i), _probs(d_train[i], colors), _probs(g_train[i], colors), float(log_px[i])] for i in idx]
        for col in (1, 2, 3):
            fig.add_trace(
                go.Scatter(
                    x=x[idx, 0],
                    y=x[idx, 1],
                    mode="markers",
                    name=f"{color} (training data)",
                    legendgroup=color,
                    showlegend=col == 1,
                    customdata=custom,
                    hovertemplate=f"point %{{customdata[0]}}: {color}<br>" + hover,
                    marker=dict(color=_css(color), size=5 if col == 1 else 4, line=dict(color="white", width=0.5)),
                ),
                1,
                col,
            )
    for col in (1, 2, 3):
        fig.add_shape(
            type="rect",
            x0=-WORLD_RANGE,
            x1=WORLD_RANGE,
            y0=-WORLD_RANGE,
            y1=WORLD_RANGE,
            line=dict(color="gray", width=1, dash="dot"),
            row=1,
            col=col,
        )
        if probe is not None:
            fig.add_trace(
                go.Scatter(
                    x=[probe[0]],
                    y=[probe[1]],
                    mode="markers",
                    name="probe point",
                    legendgroup="probe",
                    showlegend=col == 1,
                    marker=dict(symbol="star", size=14, color="gold", line=dict(color="black", width=1)),
                ),
                1,
                col,
            )
        fig.update_xaxes(title_text="object x (world units)", range=[-PLOT_EXTENT, PLOT_EXTENT], row=1, col=col)
        fig.update_yaxes(
            title_text="object y" if col == 1 else None,
            range=[-PLOT_EXTENT, PLOT_EXTENT],
            scaleanchor=f"x{col if col > 1 else ''}",
            row=1,
            col=col,
        )
    k = len(colors)
    for i, color in enumerate(colors):
        fig.update_layout(
            {
                f"coloraxis{i + 1}": dict(
                    colorscale=[[0, "rgba(255,255,255,1)"], [1, _css(color)]],
                    cmin=0,
                    cmax=1,
                    colorbar=dict(
                        title=dict(text=f"p({color})", side="right"),
                        len=0.9 / k,
                        y=1 - (i + 0.5) / k,
                        x=1.01,
                        thickness=12,
                    ),
                )
            }
        )
    fig.update_layout(
        title="Who knows where it has seen no data? (dotted square: where the world puts objects)",
        height=460,
        margin=dict(l=40, r=60, t=80, b=40),
        legend=dict(orientation="h", y=-0.18),
        plot_bgcolor="white",
    )
    return fig


def _probs(p: np.ndarray, colors) -> str:
    return ", ".join(f"{c} {v:.2f}" for c, v in zip(colors, p))


def missing_figure(study: Study, observed: int = 0, models=("mlp", "flow"), side: int = 241) -> go.Figure:
    """p(y | one coordinate) along that coordinate: a generative model sums the hidden one out;
    a discriminative one can only be fed an imputed value (the training mean). Below: where the
    training points of each class lie on the seen axis."""
    if observed not in (0, 1):
        raise ValueError(f"observed must be 0 (x seen, y hidden) or 1 (y seen, x hidden), got {observed!r}")
    names = {0: "x", 1: "y"}
    unknown = [m for m in models if m not in study.models()]
    if unknown:
        raise ValueError(f"no model {unknown[0]!r} in this study; it has {', '.join(study.models())}")
    values = np.linspace(-PLOT_EXTENT, PLOT_EXTENT, side)
    colors = study.layout.colors
    fig = make_subplots(2, 1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.05)
    dashes = ["solid", "dash", "dot", "dashdot"]
    for m, name in enumerate(models):
        proba = study.observed_proba(name, values, observed)
        how = "marginalised" if name in study.generative else "mean-imputed"
        for k, color in enumerate(colors):
            fig.add_trace(
                go.Scatter(
                    x=values,
                    y=proba[:, k],
                    mode="lines",
                    name=f"{name} ({how}): p({color})",
                    line=dict(color=_css(color), dash=dashes[m % len(dashes)], width=2),
                ),
                1,
                1,
            )
    x, labels = study.train.features, study.train.labels
    for k, color in enumerate(colors):
        fig.add_trace(
            go.Histogram(
                x=x[labels == k, observed],
                name=f"{color} training points",
                opacity=0.6,
                marker_color=_css(color),
                xbins=dict(start=-PLOT_EXTENT, end=PLOT_EXTENT, size=0.25),
            ),
            2,
            1,
        )
    fig.update_layout(
        barmode="overlay",
        height=480,
        title=(f"Missing data: only {names[observed]} is seen, {names[1 - observed]} is hidden"),
        legend=dict(orientation="h", y=-0.2),
        margin=dict(l=50, r=20, t=60, b=40),
    )
    fig.update_yaxes(title_text=f"p(y | {names[observed]})", range=[-0.02, 1.02], row=1, col=1)
    fig.update_yaxes(title_text="count", row=2, col=1)
    fig.update_xaxes(title_text=f"object {names[observed]} (world units)", row=2, col=1)
    return fig


# --- adversarial noise


def attack_figure(report) -> go.Figure:
    """p(shape | image) before and after the attack, side by side (an `adversarial.AttackReport`)."""
    shapes = list(report.probabilities_before)
    fig = go.Figure(
        [
            go.Bar(
                x=shapes,
                y=[report.probabilities_before[s] for s in shapes],
                name="clean image",
                marker_color="rgba(70,110,200,0.9)",
                text=[f"{report.probabilities_before[s]:.3f}" for s in shapes],
                textposition="outside",
            ),
            go.Bar(
                x=shapes,
                y=[report.probabilities_after[s] for s in shapes],
                name=f"{report.method.upper()}, ε = {report.eps:g}",
                marker_color="rgba(200,60,60,0.9)",
                text=[f"{report.probabilities_after[s]:.3f}" for s in shapes],
                textposition="outside",
            ),
        ]
    )
    fig.update_layout(
        barmode="group",
        height=340,
        title="The classifier's p(shape | image) before and after",
        xaxis_title="shape",
        yaxis=dict(title="probability", range=[0, 1.15]),
        legend=dict(orientation="h", y=-0.25),
        margin=dict(l=50, r=20, t=50, b=40),
    )
    return fig


# --- the measured Table 1.1


def _decade_axis(values) -> dict:
    """A log axis with ticks at whole decades only (0.1, 1, 10, ...), written out, from the decade below the
    smallest value to the one above the largest: plotly's own log ticks add minor labels ("5 2 10 5 2") that
    read as one row of numbers."""
    logs = np.log10([v for v in values if v is not None and v > 0])
    lo, hi = (int(np.floor(logs.min() - 0.05)), int(np.ceil(logs.max() + 0.05))) if logs.size else (0, 1)
    decades = range(lo, hi + 1)
    return dict(
        type="log",
        range=[lo, hi],  # a log axis's range is in decades
        tickmode="array",
        tickvals=[10.0**k for k in decades],
        ticktext=[f"{10**k:,}" if k >= 0 else f"{10.0**k:.{-k}f}" for k in decades],
    )


def _panel_note(fig: go.Figure, col: int, text: str) -> None:
    """A plain note in the middle of panel `col` of a one-row figure, saying why the panel is empty."""
    axis = "" if col == 1 else col
    fig.add_annotation(
        x=0.5,
        y=0.5,
        xref=f"x{axis} domain",
        yref=f"y{axis} domain",
        text=text,
        showarrow=False,
        font=dict(size=13, color="rgb(80,80,80)"),
        bgcolor="rgba(255,255,255,0.9)",
        name="empty panel",
    )


def comparison_figure(result: dict) -> go.Figure:
    """Three panels of an evaluation (`playground.evaluation.compare`): sampling speed of every family; bits/dim
    against sampling speed for the families with a likelihood; validity and coverage of the samples. A panel
    with nothing to draw (no family with bits/dim, no valid sample at all) says so in a note inside it."""
    from playground.evaluation.compare import family_rows

    rows = family_rows(result)
    names = list(rows)
    minutes = sorted({row["train_minutes"] for row in rows.values() if row.get("train_minutes") is not None})
    seeds = " or ".join(str(s) for s in sorted({len(row["runs"]) for row in rows.values() if row.get("runs")}))
    budget = " or ".join(f"{60 * m:.0f} s" if m < 1 else f"{m:g} min" for m in minutes) or "the same time"
    fig = make_subplots(
        1,
        3,
        horizontal_spacing=0.1,
        subplot_titles=("Sampling time (batch of 64)", "Bits/dim vs sampling time", "Samples: valid and coverage"),
    )
    fig.update_annotations(font_size=14)  # the subplot titles (the notes below come later, in their own size)
    speeds = [rows[n]["sample_ms_per_image"] for n in names]
    fig.add_trace(
        go.Bar(x=names, y=speeds, name="ms / image", marker_color="rgba(90,110,190,0.85)", showlegend=False),
        1,
        1,
    )
    scored = [n for n in names if rows[n].get("bits_per_dim") is not None]
    bits = [rows[n]["bits_per_dim"] for n in scored]
    fig.add_trace(
        go.Scatter(
            x=[rows[n]["sample_ms_per_image"] for n in scored],
            y=bits,
            mode="markers+text",
            text=scored,
            textposition="top center",
            cliponaxis=False,  # a family at the edge of the range keeps its name
            name="bits/dim",
            marker=dict(size=11, color="rgb(200,90,60)"),
            hovertemplate="%{text}: %{y:.4f} bits/dim, %{x:.2f} ms/image<extra></extra>",
            showlegend=False,
        ),
        1,
        2,
    )
    if not scored:
        kinds = ", ".join(f"{n}: {rows[n].get('likelihood_kind', 'none')}" for n in names)
        _panel_note(fig, 2, f"No family here gives bits/dim<br>({kinds})")
    fractions = {key: [rows[n].get(key) or 0.0 for n in names] for key in ("validity", "coverage")}
    for key, label, color in (
        ("validity", "valid: fraction of the samples that are world images", "rgba(60,150,90,0.85)"),
        ("coverage", "coverage: fraction of the world's scenes drawn", "rgba(220,160,40,0.85)"),
    ):
        fig.add_trace(
            go.Bar(
                x=names,
                y=fractions[key],
                name=label,
                marker_color=color,
                text=["0" if v == 0 else "" for v in fractions[key]],  # a zero bar is invisible: say it is 0
                textposition="outside",
                cliponaxis=False,
            ),
            1,
            3,
        )
    if not any(v > 0 for values in fractions.values() for v in values):
        _panel_note(
            fig,
            3,
            f"No family drew a valid world image<br>after {budget} of training:<br>valid = 0 and coverage = 0 for all",
        )
    fig.update_yaxes(_decade_axis(speeds), title_text="ms per image (log scale)", row=1, col=1)
    fig.update_xaxes(_decade_axis(speeds), title_text="ms per image (log scale)", row=1, col=2)
    fig.update_yaxes(_decade_axis(bits), title_text="bits/dim (log scale; lower is better)", row=1, col=2)
    fig.update_yaxes(title_text="fraction", range=[0, 1], row=1, col=3)
    fig.update_xaxes(title_text="family", tickangle=-45, row=1, col=1)
    fig.update_xaxes(title_text="family", tickangle=-45, row=1, col=3)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    fig.update_layout(
        barmode="group",
        height=540,
        title=f"Each family on the same world with the same budget: {budget} of training per run, "
        f"{seeds or '?'} seed{'' if seeds == '1' else 's'} each",
        legend=dict(orientation="h", x=1, xanchor="right", y=-0.32, yanchor="top"),
        margin=dict(l=70, r=30, t=100, b=130),
    )
    return fig


def loss_figure(records: list[dict] | None = None) -> go.Figure:
    """The Train tab's loss curve: the family's objective at each step so far (empty axes before the first)."""
    records = records or []
    fig = go.Figure(
        go.Scatter(x=[r["step"] for r in records], y=[r["loss"] for r in records], mode="lines", name="training loss")
    )
    fig.update_layout(
        title="Training loss",
        xaxis_title="step",
        yaxis_title="loss (the family's objective)",
        height=300,
        margin=dict(l=70, r=20, t=50, b=50),
        showlegend=False,
    )
    return fig
