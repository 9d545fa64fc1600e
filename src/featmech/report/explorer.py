r"""``featmech explore``: the live explorer, a Panel/Bokeh web app (the ``explore`` extra).

The page is a view of :mod:`featmech.report.explorer_model`: every control edits one
:class:`~featmech.report.explorer_model.ExplorerConfig`, :func:`~featmech.report.explorer_model.compute`
recomputes the exact flow, GD at the chosen step size and the phase diagram, and the figures are
redrawn by replacing the data of their Bokeh ``ColumnDataSource``\ s (the figures themselves are
built once; only a change of the phase diagram's axes rebuilds that figure). Clicking the phase
diagram sets its two parameters to the clicked point.

Panel and Bokeh are imported only here, and only when the app is built: without them,
:func:`build_app` and :func:`serve` raise ``ImportError`` naming ``pip install 'featmech[explore]'``.

The page exposes, for tests and the benchmark, ``<span id="fm-seq" data-seq="N">`` (N counts the
redraws), ``<div id="fm-label" data-category="…">`` (the exact flow's label) and the Bokeh data
sources ``fm-flow`` and ``fm-gd`` (``Bokeh.documents[0].get_model_by_name``).
"""

from __future__ import annotations

import html
import math
import time
from typing import Any, Callable

import numpy as np

from featmech.analysis.phase import LABELS
from featmech.errors import InputError
from featmech.params import PARAMETERS
from featmech.report.explorer_model import (
    AXES,
    LR_K0_RANGE,
    PRESETS,
    ExplorerConfig,
    ExplorerView,
    compute,
)
from featmech.report.plots import LAYER_COLORS, PALETTE

__all__ = ["Explorer", "build_app", "serve", "allowed_origins", "CONTROLS", "require_panel"]

#: the numeric controls: name -> (slider scale, slider low, slider high) — log scales in log10 units
CONTROLS: dict[str, tuple[str, float, float]] = {
    "width": ("log", 0.0, 12.0),
    "sigma_u": ("log", -6.0, 1.0),
    "sigma_w": ("log", -6.0, 1.0),
    "rho": ("linear", -1.0, 1.0),
    "eta_u": ("log", -4.0, 12.0),
    "eta_w": ("log", -4.0, 12.0),
    "kappa": ("log", -12.0, 2.0),
    "target": ("linear", -3.0, 3.0),
    "data_var": ("log", -2.0, 2.0),
    "lr_k0": ("linear", LR_K0_RANGE[0], 6.0),
}

_NO_PRESET = "(choose a preset)"
_TITLES = {"lr_k0": "GD lr·K0", "width": "width d"}


def require_panel() -> Any:
    """Import Panel (and Bokeh), or raise ``ImportError`` naming the extra to install."""
    try:
        import bokeh  # noqa: F401
        import panel as pn
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"featmech explore needs Panel and Bokeh: pip install 'featmech[explore]' ({exc})") from None
    return pn


def _title(name: str) -> str:
    if name in _TITLES:
        return _TITLES[name]
    p = PARAMETERS[name]
    return f"{p.symbol or name} ({name})"


class Explorer:
    """The app of one browser session: widgets, figures and the current configuration.

    Arguments:
        config: the starting configuration.

    Attributes:
        config: the current :class:`~featmech.report.explorer_model.ExplorerConfig`.
        view: the last :class:`~featmech.report.explorer_model.ExplorerView`.
        layout: the Panel layout to serve.
        redraws: how many times the figures were redrawn.
        last_redraw_seconds: compute + data update of the last redraw.
    """

    def __init__(self, config: ExplorerConfig | None = None) -> None:
        pn = require_panel()
        self.pn = pn
        self.config = config or ExplorerConfig()
        self.redraws = 0
        self.last_redraw_seconds = 0.0
        self._syncing = False
        self._in_tick = False
        self._pending: tuple[ExplorerConfig, str, float] | None = None  # the newest change not drawn yet
        self.doc = pn.state.curdoc
        self._build_widgets()
        self._build_figures()
        self.view = compute(self.config)
        self._draw(self.view)
        self._build_layout()

    # ------------------------------------------------------------------ widgets
    def _build_widgets(self) -> None:
        pn = self.pn
        self.sliders: dict[str, Any] = {}
        self.inputs: dict[str, Any] = {}
        for name, (scale, lo, hi) in CONTROLS.items():
            value = getattr(self.config, name)
            title = _title(name)
            step = 0.05 if scale == "log" else (0.01 if name != "target" else 0.05)
            s_name = f"log₁₀ {title}" if scale == "log" else title
            slider = pn.widgets.FloatSlider(name=s_name, start=lo, end=hi, step=step,
                                            value=self._to_slider(name, value), sizing_mode="stretch_width",
                                            css_classes=[f"fm-slider-{name}"])
            box = pn.widgets.TextInput(name=title, value=self._fmt(value), sizing_mode="stretch_width",
                                       css_classes=[f"fm-input-{name}"])
            # live while dragging: every value is sent, and changes that arrive while one is being
            # drawn are coalesced (only the newest is computed, see _apply)
            slider.param.watch(lambda ev, n=name: self._on_slider(n, ev.new), "value")
            box.param.watch(lambda ev, n=name: self._on_input(n, ev.new), "value")
            self.sliders[name], self.inputs[name] = slider, box
        self.seed = pn.widgets.IntInput(name="seed", value=self.config.seed, start=0, css_classes=["fm-input-seed"])
        self.seed.param.watch(lambda ev: self._set(seed=int(ev.new)), "value")
        self.preset = pn.widgets.Select(name="preset", options=[_NO_PRESET, *PRESETS],
                                        css_classes=["fm-preset"])
        self.preset.param.watch(self._on_preset, "value")
        self.x_axis = pn.widgets.Select(name="phase diagram x", options=list(AXES), value=self.config.x_axis,
                                        css_classes=["fm-x-axis"])
        self.y_axis = pn.widgets.Select(name="phase diagram y", options=list(AXES), value=self.config.y_axis,
                                        css_classes=["fm-y-axis"])
        self.x_axis.param.watch(lambda ev: self._set_axes(x_axis=ev.new), "value")
        self.y_axis.param.watch(lambda ev: self._set_axes(y_axis=ev.new), "value")
        for w in (*self.sliders.values(), self.preset, self.x_axis, self.y_axis, self.seed):
            # Panel waits 50 ms for more changes of a widget before running its callbacks; the
            # coalescing in _apply does that job here without the wait
            w._debounce = 5
        self.cli_text = pn.widgets.TextAreaInput(name="CLI command", value="", height=90, sizing_mode="stretch_width",
                                                 css_classes=["fm-cli"])
        self.py_text = pn.widgets.TextAreaInput(name="Python", value="", height=170, sizing_mode="stretch_width",
                                                css_classes=["fm-python"])
        self.copy_cli = pn.widgets.Button(name="copy as CLI command", button_type="primary", css_classes=["fm-copy-cli"])
        self.copy_py = pn.widgets.Button(name="copy as Python", button_type="primary", css_classes=["fm-copy-py"])
        code = "navigator.clipboard && navigator.clipboard.writeText(src.value).catch(() => {});"
        self.copy_cli.js_on_click(args={"src": self.cli_text}, code=code)
        self.copy_py.js_on_click(args={"src": self.py_text}, code=code)
        self.download = pn.widgets.FileDownload(callback=self._json_file, filename="featmech-explore.json",
                                                label="download configuration (JSON)", button_type="default",
                                                css_classes=["fm-json"])
        self.message = pn.pane.HTML("", css_classes=["fm-message"], sizing_mode="stretch_width", height=24)
        self.label = pn.pane.HTML("", sizing_mode="stretch_width", height=100, css_classes=["fm-label-pane"])
        self.explanation = pn.pane.HTML("", sizing_mode="stretch_width", css_classes=["fm-explanation"])

    def _json_file(self) -> Any:
        import io

        return io.BytesIO(self.config.to_json().encode("utf-8"))

    @staticmethod
    def _fmt(value: Any) -> str:
        return str(value) if isinstance(value, int) else f"{float(value):.6g}"

    @staticmethod
    def _to_slider(name: str, value: Any) -> float:
        scale, lo, hi = CONTROLS[name]
        v = float(value)
        if scale == "log":
            v = math.log10(v) if v > 0 else lo
        return float(min(hi, max(lo, round(v, 4))))

    def _on_slider(self, name: str, v: float) -> None:
        if self._syncing or v is None:
            return
        # a value set from the server (an exact value typed, a preset) comes back snapped to the
        # slider's step: that is no change
        if abs(v - self._to_slider(name, getattr(self._latest(), name))) <= self.sliders[name].step / 2 + 1e-9:
            return
        value = 10.0**v if CONTROLS[name][0] == "log" else v
        self._set(**{name: value})

    def _on_input(self, name: str, text: str) -> None:
        if self._syncing:
            return
        try:
            value = float(str(text).strip())
        except ValueError:
            self.message.object = f"<span style='color:#b00'>{html.escape(_title(name))}: not a number: {html.escape(str(text))}</span>"
            return
        self._set(**{name: value})

    def _on_preset(self, ev: Any) -> None:
        if self._syncing or ev.new not in PRESETS:
            return
        p = PRESETS[ev.new]
        self._apply(p.apply(self._latest()), note=f"preset {html.escape(p.name)}: {html.escape(p.description)} "
                                               f"(expected: {html.escape(p.expected)})")
        self._syncing = True  # back to the placeholder, so that the same preset can be chosen again
        try:
            self.preset.value = _NO_PRESET
        finally:
            self._syncing = False

    def _set_axes(self, **axes: str) -> None:
        if self._syncing:
            return
        try:
            cfg = self._latest().replace(**axes)
        except InputError as exc:
            self.message.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            self._sync_widgets()
            return
        self._apply(cfg)

    def _set(self, **changes: Any) -> None:
        """Apply control changes (width rounded to an integer), validated; a bad value is shown, not raised."""
        try:
            cfg = self._latest()
            for k, v in changes.items():
                cfg = cfg.set_value(k, v) if k != "lr_k0" else cfg.replace(lr_k0=float(v))
        except InputError as exc:
            self.message.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        self._apply(cfg)

    def set_config(self, cfg: ExplorerConfig) -> None:
        """Show another configuration (what a control, a preset or a click does)."""
        self._apply(cfg)

    def _latest(self) -> ExplorerConfig:
        """The configuration the next redraw will show (a change not drawn yet included)."""
        return self._pending[0] if self._pending is not None else self.config

    def _apply(self, cfg: ExplorerConfig, note: str = "") -> None:
        """Compute and redraw; from a widget callback (which Panel runs outside the Bokeh document's
        lock) the redraw is scheduled as the document's next tick, which holds the lock. Changes
        that arrive before that tick runs replace the pending one (a dragged slider sends many):
        only the newest configuration is computed and sent."""
        doc = self.doc
        if doc is not None and doc.session_context is not None and not self._in_tick:
            scheduled = self._pending is not None
            self._pending = (cfg, note, time.perf_counter())
            if not scheduled:
                doc.add_next_tick_callback(self._flush)
            return
        self._apply_now(cfg, note, time.perf_counter())

    def _flush(self) -> None:
        if self._pending is None:
            return
        cfg, note, t0 = self._pending
        self._pending = None
        self._apply_locked(cfg, note, t0)

    def _apply_locked(self, cfg: ExplorerConfig, note: str, t0: float) -> None:
        self._in_tick = True
        try:
            with self.pn.io.hold(self.doc):  # one websocket message for all the changes
                self._apply_now(cfg, note, t0)
        finally:
            self._in_tick = False

    def _apply_now(self, cfg: ExplorerConfig, note: str, t0: float) -> None:
        try:
            view = compute(cfg)
        except InputError as exc:
            self.message.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            self._sync_widgets()
            return
        axes_changed = (cfg.x_axis, cfg.y_axis) != (self.config.x_axis, self.config.y_axis)
        self.config, self.view = cfg, view
        if axes_changed:
            self._new_phase_figure()
        self._draw(view)
        self._sync_widgets()
        self.last_redraw_seconds = time.perf_counter() - t0
        self.message.object = f"<span id='fm-note'>{note}</span>"
        self._draw_label(view)

    def _sync_widgets(self) -> None:
        self._syncing = True
        try:
            for name in CONTROLS:  # only what changed is sent to the browser
                value = getattr(self.config, name)
                if self.sliders[name].value != (sv := self._to_slider(name, value)):
                    self.sliders[name].value = sv
                if self.inputs[name].value != (text := self._fmt(value)):
                    try:
                        same = float(self.inputs[name].value) == float(text)
                    except ValueError:
                        same = False
                    if not same:
                        self.inputs[name].value = text
            if self.seed.value != self.config.seed:
                self.seed.value = self.config.seed
            if self.x_axis.value != self.config.x_axis:
                self.x_axis.value = self.config.x_axis
            if self.y_axis.value != self.config.y_axis:
                self.y_axis.value = self.config.y_axis
        finally:
            self._syncing = False

    # ------------------------------------------------------------------ figures
    def _build_figures(self) -> None:
        from bokeh.models import ColumnDataSource, Span

        keys = ("t", "output", "loss", "ntk_ratio", "alignment", "norm_u", "norm_w")
        self.flow_src = ColumnDataSource({k: [] for k in keys}, name="fm-flow")  # names: for tests
        self.gd_src = ColumnDataSource({k: [] for k in keys}, name="fm-gd")
        self.figs = {}
        specs = [("output", "output κu·w", "linear", [("output", "#000000")]),
                 ("loss", "loss", "log", [("loss", "#000000")]),
                 ("ntk", "NTK K/K0", "linear", [("ntk_ratio", "#000000")]),
                 ("alignment", "alignment ζ", "linear", [("alignment", "#000000")]),
                 ("norms", "layer norms |u| (blue), |w| (vermillion)", "log",
                  [("norm_u", LAYER_COLORS[0]), ("norm_w", LAYER_COLORS[1])])]
        for key, title, ytype, series in specs:
            f = self._figure(title, y_axis_type=ytype)
            for col, color in series:
                legend = {"legend_label": "exact flow"} if key == "output" else {}
                f.line("t", col, source=self.flow_src, color=color, line_width=2, **legend)
                legend = {"legend_label": "GD"} if key == "output" else {}
                f.scatter("t", col, source=self.gd_src, color=color, size=5, fill_alpha=0.35, **legend)
            if key == "output":  # one legend says it for all: lines are the flow, points GD
                f.legend.location = "top_right"
                f.legend.label_text_font_size = "8pt"
                f.legend.background_fill_alpha = 0.6
            self.figs[key] = f
        self.target_span = Span(location=self.config.target, dimension="width", line_dash="dashed",
                                line_color="#777777")
        self.figs["output"].add_layout(self.target_span)
        # the phase map: one image glyph (label indices, coloured by a colour mapper) and, for the
        # legend only, one invisible point per label (fixed: BokehJS fails on a legend whose
        # source changes length)
        self.phase_src = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        n = len(LABELS)
        self.legend_src = ColumnDataSource({"x": [math.nan] * n, "y": [math.nan] * n, "category": list(LABELS),
                                            "color": [PALETTE.get(c, "#777777") for c in LABELS]})
        self.point_src = ColumnDataSource({"x": [], "y": []})
        self.phase_fig = self._phase_figure()

    def _figure(self, title: str, **kw: Any) -> Any:
        from bokeh.plotting import figure

        f = figure(title=title, height=230, width=330, tools="pan,wheel_zoom,box_zoom,reset,save",
                   x_axis_label="flow time t (GD step n at t = n·lr)", toolbar_location=None, **kw)
        # the browser fits the ranges to the data; sending each fit back to the server (Bokeh's default)
        # costs a round trip per range and redraw for nothing
        f.x_range.syncable = False
        f.y_range.syncable = False
        f.title.text_font_size = "10pt"
        f.xaxis.axis_label_text_font_size = "8pt"
        _plain_log_ticks(f)
        return f

    def _phase_figure(self) -> Any:
        from bokeh.events import Tap
        from bokeh.models import CustomJSHover, HoverTool, LinearColorMapper, Range1d
        from bokeh.plotting import figure

        cfg = self.config
        xs = "log" if cfg.x_axis in _LOG_AXES else "linear"
        ys = "log" if cfg.y_axis in _LOG_AXES else "linear"
        f = figure(title="finite-width phase diagram (click to move the point)", height=420, width=470,
                   x_axis_type=xs, y_axis_type=ys, tools="tap,reset,save",
                   x_range=Range1d(syncable=False), y_range=Range1d(syncable=False),
                   x_axis_label=_title(cfg.x_axis), y_axis_label=_title(cfg.y_axis), name="fm-phase")
        mapper = LinearColorMapper(palette=[PALETTE.get(c, "#777777") for c in LABELS], low=-0.5,
                                   high=len(LABELS) - 0.5)
        img = f.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.phase_src, color_mapper=mapper)
        f.scatter("x", "y", source=self.legend_src, marker="square", size=10, fill_color="color",
                  line_color=None, legend_field="category")
        f.scatter("x", "y", source=self.point_src, size=16, marker="circle_cross", fill_color="#FFFF00",
                  line_color="#000000", line_width=2)
        names = CustomJSHover(args={"labels": list(LABELS)}, code="return labels[Math.round(value)] || ''")
        f.add_tools(HoverTool(renderers=[img], tooltips=[("label", "@image{custom}")], formatters={"@image": names}))
        f.legend.label_text_font_size = "7pt"
        f.legend.location = "bottom_left"
        f.legend.background_fill_alpha = 0.6
        f.legend.spacing, f.legend.padding, f.legend.label_height, f.legend.glyph_height = 0, 3, 12, 12
        f.title.text_font_size = "10pt"
        _plain_log_ticks(f)
        f.on_event(Tap, self._on_tap)
        return f

    def _new_phase_figure(self) -> None:
        self.phase_fig = self._phase_figure()
        self._phase_key = None
        if hasattr(self, "phase_pane"):
            self.phase_pane.object = self.phase_fig

    def _on_tap(self, event: Any) -> None:
        """A click on the phase diagram: move the point there (snapped into the axes' ranges)."""
        if event.x is None or event.y is None:
            return
        cfg = self.config  # the axes of the diagram shown; the other values as last set
        try:
            new = self._latest().set_value(cfg.x_axis, float(event.x)).set_value(cfg.y_axis, float(event.y))
        except InputError as exc:
            self.message.object = f"<span style='color:#b00'>{html.escape(str(exc))}</span>"
            return
        self._apply(new, note=f"moved to {html.escape(_title(cfg.x_axis))} = {float(event.x):.4g}, "
                              f"{html.escape(_title(cfg.y_axis))} = {float(event.y):.4g}")

    def _draw(self, view: ExplorerView) -> None:
        # only what changed is sent: the flow does not depend on lr·K0 (unless GD runs longer), GD
        # not on the phase-diagram axes, the diagram not on lr·K0
        model = tuple(view.config.model_values.values())
        flow_key = (model, float(view.run.state.t[-1]))
        if flow_key != getattr(self, "_flow_key", None):
            self.flow_src.data = {k: _finite(v) for k, v in view.flow_series().items()}
            self._flow_key = flow_key
        gd_key = (model, view.config.lr_k0)
        if gd_key != getattr(self, "_gd_key", None):
            self.gd_src.data = {k: _finite(v) for k, v in view.gd_series().items()}
            self._gd_key = gd_key
        if self.target_span.location != view.config.target:
            self.target_span.location = view.config.target
        key = (id(view.phase.diagram), view.phase.x_edges.tobytes(), view.phase.y_edges.tobytes())
        if key != getattr(self, "_phase_key", None):  # a new diagram: send it (a cached one is not resent)
            r = view.phase.raster()
            self.phase_src.data = {"image": [r["image"]], "x": [r["x0"]], "y": [r["y0"]],
                                   "dw": [r["x1"] - r["x0"]], "dh": [r["y1"] - r["y0"]]}
            fig = self.phase_fig
            if (fig.x_range.start, fig.x_range.end) != (r["x0"], r["x1"]):
                fig.x_range.update(start=r["x0"], end=r["x1"])
            if (fig.y_range.start, fig.y_range.end) != (r["y0"], r["y1"]):
                fig.y_range.update(start=r["y0"], end=r["y1"])
            self._phase_key = key
        point = {"x": [view.phase.point[0]], "y": [view.phase.point[1]]}
        if point != self.point_src.data:
            self.point_src.data = point
        self.redraws += 1
        for widget, text in ((self.cli_text, view.config.cli_text()), (self.py_text, view.config.python())):
            if widget.value != text:
                widget.value = text

    def _draw_label(self, view: ExplorerView) -> None:
        s = view.summary()
        cat = view.category
        color = PALETTE.get(cat, "#777777")
        fg = "#000000" if cat in ("kernel", "undetermined") else "#FFFFFF"
        gd = ""
        if view.gd is not None:
            div = f", diverged at step {s['diverged_at']}" if s["diverged"] else ""
            gd = (f"GD at lr = {s['lr']:.4g} (lr·K0 = {s['lr_times_ntk0']:.3g}; edge of stability 2, catapult up to "
                  f"about 4), {s['gd_steps']} steps: <b>{html.escape(str(view.gd_category))}</b>{div}")
        else:
            gd = "GD: K0 = 0, nothing to train"
        self.label.object = (
            f"<div id='fm-summary'><div id='fm-label' data-category='{html.escape(cat)}' style='font-size:1.35em;padding:6px 10px;"
            f"border-radius:6px;background:{color};color:{fg};border:1px solid #444;display:inline-block'>"
            f"exact flow: <b>{html.escape(cat)}</b></div>"
            f"<div style='margin-top:6px'>{gd}</div>"
            f"<div>K0 = {s['ntk0']:.4g}, K(∞)/K0 = {s['ntk_ratio']:.4g}, rate D = {s['rate']:.4g}; "
            f"redraw {1e3 * self.last_redraw_seconds:.1f} ms "
            f"<span id='fm-seq' data-seq='{self.redraws}'>#{self.redraws}</span></div></div>")
        self.explanation.object = (
            f"<b>Why</b> (as <code>featmech explain</code>):<pre style='white-space:pre-wrap;font-size:0.9em;"
            f"background:#f6f6f6;padding:6px;margin-top:2px'>{html.escape(view.explanation)}</pre>")

    # ------------------------------------------------------------------ layout
    def _build_layout(self) -> None:
        pn = self.pn
        self._draw_label(self.view)
        self.phase_pane = pn.pane.Bokeh(self.phase_fig)
        rows = []
        for name in CONTROLS:
            rows.append(pn.Row(self.sliders[name], self.inputs[name], sizing_mode="stretch_width"))
        controls = pn.Column(
            pn.pane.Markdown("### Controls"), self.preset, *rows, self.seed, self.x_axis, self.y_axis,
            width=420)
        figs = pn.Column(
            pn.Row(pn.pane.Bokeh(self.figs["output"]), pn.pane.Bokeh(self.figs["loss"]),
                   pn.pane.Bokeh(self.figs["ntk"])),
            pn.Row(pn.pane.Bokeh(self.figs["alignment"]), pn.pane.Bokeh(self.figs["norms"]), self.phase_pane),
        )
        share = pn.Column(pn.Row(self.copy_cli, self.copy_py, self.download), self.cli_text, self.py_text,
                          sizing_mode="stretch_width")
        main = pn.Column(pn.pane.Markdown(
            "## featmech explore — f(x) = κ Σᵢ uᵢwᵢx, exact gradient flow (lines) and GD (points)"),
            self.label, self.message, figs, self.explanation, share, sizing_mode="stretch_width")
        self.layout = pn.Row(controls, main, sizing_mode="stretch_width")


def _plain_log_ticks(fig: Any) -> None:
    """Log axes labelled ``1e-3`` in plain text: Bokeh's default superscripts cost a text layout per
    tick at every redraw."""
    from bokeh.models import CustomJSTickFormatter, LogAxis

    for axis in (*fig.xaxis, *fig.yaxis):
        if isinstance(axis, LogAxis):
            axis.formatter = CustomJSTickFormatter(
                code="const e = Math.round(Math.log10(tick)); return Math.abs(Math.log10(tick) - e) < 1e-9 ? "
                     "(e === 0 ? '1' : e === 1 ? '10' : '1e' + e) : tick.toPrecision(2)")


_LOG_AXES = {"width", "sigma_u", "sigma_w", "eta_u", "eta_w", "kappa", "target", "data_var"}


def _finite(v: Any) -> list[float]:
    """A column as a plain list (non-finite values as NaN). Lists travel inside the one JSON frame
    of Bokeh's update message; every NumPy array would be a binary frame of its own (two websocket
    frames each, written one by one: about 1 ms apiece on a busy machine, more than the JSON costs)."""
    a = np.asarray(v, dtype=np.float64)
    return np.where(np.isfinite(a), a, np.nan).tolist()


def build_app(config: ExplorerConfig | None = None) -> Any:
    """A new :class:`Explorer`'s layout (one per browser session).

    Raises:
        ImportError: Panel or Bokeh missing (the message names ``pip install 'featmech[explore]'``).
    """
    pn = require_panel()
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = "featmech explore"
    return Explorer(config).layout


def serve(host: str = "127.0.0.1", port: int = 5006, *, show: bool = True,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve the explorer on ``http://host:port/`` until interrupted (blocks).

    Arguments:
        host: the address to listen on (``127.0.0.1``: this machine only; ``0.0.0.0`` or ``::``:
            every address of this machine, the page then accepts the machine's names and addresses).
        port: the TCP port.
        show: open the page in the default web browser.
        on_ready: called with the URL once the server listens.

    Ctrl-C (SIGINT) and SIGTERM stop the server, then are raised again under the handlers installed
    before the call (Panel would stop silently on Ctrl-C), so ``featmech explore`` ends as every
    command does: one line and exit status 130 or 143.

    Raises:
        ImportError: Panel or Bokeh missing.
    """
    import signal
    import threading

    pn = require_panel()
    origins = sorted(allowed_origins(host, port))
    main_thread = threading.current_thread() is threading.main_thread()
    sigint = signal.getsignal(signal.SIGINT) if main_thread else None
    server = pn.serve({"/": build_app}, address=host, port=port, show=False, start=False,
                      websocket_origin=origins, title="featmech explore", verbose=False)
    if main_thread and sigint is not None:
        signal.signal(signal.SIGINT, sigint)
    url = f"http://{_url_host(host)}:{port}/"
    if on_ready is not None:
        on_ready(url)
    if show:
        import webbrowser

        local = f"http://127.0.0.1:{port}/" if host in _WILDCARD else url
        server.io_loop.add_callback(lambda: webbrowser.open(local))
    # SIGINT and SIGTERM stop the loop from inside it (a Python signal handler alone may wait for the
    # next event: the signal can land in one of the server's threads while the loop sleeps), then the
    # signal is raised again under the handler that was installed before, after the server stopped
    loop = server.io_loop.asyncio_loop
    received: list[int] = []
    installed: list[tuple[int, Any]] = []
    if main_thread:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(sig)
            if previous is None or previous == signal.SIG_IGN:
                continue

            def stop(sig: int = sig) -> None:
                received.append(sig)
                server.io_loop.stop()

            loop.add_signal_handler(sig, stop)
            installed.append((sig, previous))
    server.start()
    try:
        server.io_loop.start()
    finally:
        server.stop()
        for sig, previous in installed:
            loop.remove_signal_handler(sig)
            signal.signal(sig, previous)
    if received:
        signal.raise_signal(received[0])


_WILDCARD = ("0.0.0.0", "::", "")
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def allowed_origins(host: str, port: int) -> set[str]:
    """The ``host:port`` origins whose pages may open the app's websocket (Bokeh refuses others).

    A loopback host allows ``127.0.0.1`` and ``localhost``; a wildcard host (``0.0.0.0``, ``::``)
    also this machine's name and the IPv4 addresses it resolves to; any other host only itself.
    (Bokeh's origin list takes no IPv6 literal: a page opened at ``http://[::1]:port/`` is refused.)
    """
    import socket

    names = {host}
    if host in _LOOPBACK or host in _WILDCARD:
        names |= {"127.0.0.1", "localhost"}
    if host in _WILDCARD:
        for name in {socket.gethostname(), socket.getfqdn()}:
            names.add(name)
            try:
                names |= {str(info[4][0]) for info in socket.getaddrinfo(name, None, socket.AF_INET)}
            except OSError:
                pass
    return {f"{n}:{port}" for n in names if n and ":" not in n}
