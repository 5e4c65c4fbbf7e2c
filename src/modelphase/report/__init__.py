"""Reports and plots of telemetry, models and their results (files only)."""

from modelphase.report.plots import Span, plot_panel

__all__ = ["Span", "plot_panel"]
