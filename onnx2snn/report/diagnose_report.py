"""A Diagnosis as text: relative error by layer and T (own error in brackets), figures at the largest T, and
one line per thing found wrong."""


def describe(diagnosis):
    """The text report of a Diagnosis (onnx2snn.report.diagnose)."""
    steps = diagnosis.timesteps
    width = max(len(layer.name) for layer in diagnosis.layers) + 2
    lines = [f"relative error ‖snn − ann‖/‖ann‖ of each IF layer by T ({diagnosis.samples} samples); in brackets "
             "its own error, the layer alone on the ANN's input", f"{'IF layer':<{width}}"
             + "".join(f"{'T=' + str(t):>14}" for t in steps)]
    for layer in diagnosis.layers:
        lines.append(f"{layer.name:<{width}}" + "".join(
            f"{layer.by_t[t]['error']:>7.3f} ({layer.by_t[t]['own_error']:.3f})" for t in steps))
    t_max = steps[-1]
    lines += ["", f"at T={t_max}:", f"{'IF layer':<{width}}{'cosine':>8}{'bias':>10}{'rate':>8}{'silent':>8}"
              f"{'clipped':>9}  threshold"]
    for layer in diagnosis.layers:
        figures = layer.by_t[t_max]
        low, high = layer.threshold
        lines.append(f"{layer.name:<{width}}{figures['cosine']:>8.4f}{figures['bias']:>+10.3g}"
                     f"{figures['firing_rate']:>8.3f}{figures['silent']:>8.1%}{layer.clipped:>9.1%}  "
                     + (f"{low:.3g}" if low == high else f"{low:.3g}..{high:.3g}"))
    lines.append("")
    lines += [f"{layer.name}: {verdict}" for layer in diagnosis.layers for verdict in layer.verdicts]
    return "\n".join(lines)
