"""Reports and plots of telemetry, models and their results (files only)."""

from modelphase.report.plots import Span, plot_panel
from modelphase.report.training import write_training_report

__all__ = ["Span", "plot_panel", "write_training_report"]
