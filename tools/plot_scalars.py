"""TensorBoard scalars → a small SVG line chart (no plotting dependency), for the README.

    python tools/plot_scalars.py runs/quickstart/pretrain/logs docs/pretraining.svg \
        epoch_mlm_accuracy epoch_nsp_accuracy
"""

import sys
from pathlib import Path

import tensorflow as tf

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def read_scalars(log_dir, tags):
    series = {tag: [] for tag in tags}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag in series:
                    number = (
                        value.simple_value
                        if value.HasField("simple_value")
                        else float(tf.make_ndarray(value.tensor))
                    )
                    series[value.tag].append((event.step, number))
    return {tag: sorted(points) for tag, points in series.items() if points}


def svg(series, width=560, height=300, margin=45, x_label="step"):
    steps = [s for points in series.values() for s, _ in points]
    values = [v for points in series.values() for _, v in points]
    low, high = min(values), max(values)
    x = lambda s: (
        margin + (s - min(steps)) / max(max(steps) - min(steps), 1e-9) * (width - 2 * margin)
    )  # noqa: E731
    y = lambda v: height - margin - (v - low) / max(high - low, 1e-9) * (height - 2 * margin)  # noqa: E731
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><rect width="100%" height="100%" fill="white"/>',
        f'<line x1="{margin}" y1="{height - margin}" x2="{width - margin}" y2="{height - margin}" stroke="#444"/>',
        f'<line x1="{margin}" y1="{margin}" x2="{margin}" y2="{height - margin}" stroke="#444"/>',
        f'<text x="{margin}" y="{height - margin + 15}">{min(steps)}</text>',
        f'<text x="{width - margin - 20}" y="{height - margin + 15}">{max(steps)}</text>',
        f'<text x="{width / 2 - 10}" y="{height - 8}">{x_label}</text>',
        f'<text x="5" y="{y(high) + 4}">{high:.2f}</text><text x="5" y="{y(low) + 4}">{low:.2f}</text>',
    ]
    for i, (tag, points) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        path = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.append(
            f'<text x="{margin + 10}" y="{margin - 10 + 14 * i}" fill="{colour}">{tag}</text>'
        )
    return "\n".join(parts + ["</svg>"])


if __name__ == "__main__":
    log_dir, output, *tags = sys.argv[1:]
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(svg(read_scalars(log_dir, tags)))
    print(f"wrote {output}")
