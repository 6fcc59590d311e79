"""chart.png: for each scenario, requests per second and CPU per request of every contender.

Left: the median requests per second, the whisker spanning the rounds' range.
Right: the best CPU µs per request, the dot at the median.  tandem's bars are
the dark ones.  Needs matplotlib (Debian's python3-matplotlib); Agg, no display.
"""
from __future__ import annotations

from pathlib import Path

from .report import Results

TANDEM, OTHER = "#c0392b", "#7f8c8d"


def write(results: Results, path: Path) -> bool:
    """Draw the chart to path; False if matplotlib cannot be imported."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sums = results.summaries()
    scenarios = results.scenarios
    fig, axes = plt.subplots(len(scenarios), 2, figsize=(13, 2.2 + 0.33 * len(results.contenders) * len(scenarios)),
                             squeeze=False)
    for row, scenario in enumerate(scenarios):
        shown = [c for c in results.contenders if (c.key, scenario.key) in sums][::-1]
        data = [sums[(c.key, scenario.key)] for c in shown]
        labels = [c.label.replace("`", "") for c in shown]
        colors = [TANDEM if c.key.startswith("tandem") else OTHER for c in shown]
        rps, cpu = axes[row]
        rps.barh(labels, [d.rps_median for d in data], color=colors,
                 xerr=[[d.rps_median - d.rps_min for d in data], [d.rps_max - d.rps_median for d in data]])
        rps.set_title(f"{scenario.key}: {scenario.label} - requests/s (median, range)", fontsize=9, loc="left")
        cpu.barh(labels, [d.cpu_us_best for d in data], color=colors)
        cpu.plot([d.cpu_us_median for d in data], labels, "k.", markersize=4)
        cpu.set_title(f"{scenario.key}: CPU µs per request (best, dot: median)", fontsize=9, loc="left")
        cpu.set_yticklabels([])
        for ax in (rps, cpu):
            ax.tick_params(labelsize=8)
            ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"make bench, {results.meta['date']} ({results.versions.get('machine', '')})", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
