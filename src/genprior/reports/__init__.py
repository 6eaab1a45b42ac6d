"""Reports: JSON + Markdown tables and PNG pictures (image grids, curves)."""

from genprior.reports.figures import save_curves, save_image_grid, save_score_histograms
from genprior.reports.machine import cpu_name
from genprior.reports.tables import markdown_table, write_report

__all__ = ["cpu_name", "markdown_table", "save_curves", "save_image_grid", "save_score_histograms", "write_report"]
