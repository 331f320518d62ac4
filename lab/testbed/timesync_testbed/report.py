"""What a run reports: percentiles, the per-agent Markdown table, the console
lines, and an SVG of true error and bound per agent."""
import json

from .configs import write


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return v[int(p * (len(v) - 1))]



def fmt(v, digits=1):
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(results):
    lines = [
        "| scenario | agent | time to sync [s] | true \\|error\\| p50 / p99 / max [us] | "
        "truth outside bound | mean bound [us] | polls/s | freq error [ppm] | "
        "chrony true \\|error\\| p50 / p99 [us] | chrony measurement \\|offset\\| p50 / p99 [us] |",
        "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        ch = r.get("chrony")
        for k, a in enumerate(r["agents"]):
            ferr = (None if a["freq_ppm"] is None or a["freq_truth_ppm"] is None
                    else abs(a["freq_ppm"] - a["freq_truth_ppm"]))
            chrony_cols = " | "
            if k == 0 and ch:
                chrony_cols = (f'{fmt(ch.get("abs_err_p50_us"))} / {fmt(ch.get("abs_err_p99_us"))} | '
                               f'{fmt(ch["abs_offset_p50_us"])} / {fmt(ch["abs_offset_p99_us"])} (n={ch["measurements"]})')
            us = lambda ns: None if ns is None else ns / 1e3
            lines.append(
                f'| {r["scenario"] if k == 0 else ""} | {a["agent_id"]} | {fmt(a["time_to_sync_s"], 2)} | '
                f'{fmt(us(a["abs_err_p50_ns"]))} / {fmt(us(a["abs_err_p99_ns"]))} / {fmt(us(a["abs_err_max_ns"]))} | '
                f'{a["violations"]} of {a["served"]} | {fmt(us(a["mean_bound_ns"]))} | {fmt(a["polls_per_s"], 2)} | '
                f'{fmt(ferr, 3)} | {chrony_cols} |')
    return "\n".join(lines) + "\n"


def print_result(r):
    for a in r["agents"]:
        us = lambda ns: "-" if ns is None else f"{ns / 1e3:.1f}"
        print(f'  {r["scenario"]:14s} {a["agent_id"]:8s} sync {a["time_to_sync_s"]} s, |err| p50/p99/max '
              f'{us(a["abs_err_p50_ns"])}/{us(a["abs_err_p99_ns"])}/{us(a["abs_err_max_ns"])} us, '
              f'outside bound {a["violations"]} of {a["served"]}, mean bound {us(a["mean_bound_ns"])} us, '
              f'freq {a["freq_ppm"]} (truth {a["freq_truth_ppm"]})', flush=True)
    if r.get("chrony"):
        c = r["chrony"]
        print(f'  {"":14s} chrony   true |error| p50/p99 {fmt(c.get("abs_err_p50_us"))}/'
              f'{fmt(c.get("abs_err_p99_us"))} us ({c.get("tracking_samples", 0)} samples); measurement '
              f'|offset| p50/p99 {fmt(c["abs_offset_p50_us"])}/{fmt(c["abs_offset_p99_us"])} us '
              f'({c["measurements"]})', flush=True)



def svg_plot(trace_path, res, svg_path):
    """True error and +-bound over time, one panel per agent."""
    rows = [json.loads(l) for l in open(trace_path)]
    panels = []
    for ai, ag in enumerate(res["agents"]):
        pts = [(r["t"], r["e"] / 1e3, r["b"] / 1e3) for r in rows if r["k"] == "r" and r.get("a") == ai]
        panels.append((f'{res["scenario"]}: {ag["agent_id"]} — true error (blue) and ±bound (grey), us', pts))
    svg_panels(panels, res["duration_s"], res["events"], svg_path)


def svg_panels(panels, dur, events, svg_path, labels=False, marks=None):
    """One panel per (title, [(t s, error us, bound us or None)]): the error
    in blue, +-bound in grey, events as red dashed lines (labelled with their
    "event" text when labels). marks: per panel, more events of that panel
    alone ({"t", "event"}), as labelled green dashed lines."""
    W, H, PAD_L, PAD_R, PAD_T, PAD_B = 900, 220, 70, 20, 30, 35
    total_h = H * len(panels)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" '
             f'font-family="sans-serif" font-size="11">',
             f'<rect width="{W}" height="{total_h}" fill="white"/>']
    for ai, (title, pts) in enumerate(panels):
        # About one point per pixel column; each keeps its bucket's largest |error|.
        k = max(1, len(pts) // 900)
        pts = [max(pts[j:j + k], key=lambda r: abs(r[1])) for j in range(0, len(pts), k)]
        y0 = ai * H
        bounds = sorted(r[2] for r in pts if r[2] is not None)
        errs = sorted(abs(r[1]) for r in pts)
        ref = pct(bounds, 0.98) if bounds else pct(errs, 0.98)
        span_us = max((ref or 100) * 1.3, 1.0)
        ph = H - PAD_T - PAD_B
        pw = W - PAD_L - PAD_R

        def X(t):
            return PAD_L + pw * min(max(t / dur, 0), 1)

        def Y(us):
            us = max(-span_us, min(span_us, us))
            return y0 + PAD_T + ph / 2 - (us / span_us) * ph / 2

        parts.append(f'<text x="{PAD_L}" y="{y0 + 18}" font-size="12">{title}; clipped at ±{span_us:.0f} us'
                     f'</text>')
        parts.append(f'<rect x="{PAD_L}" y="{y0 + PAD_T}" width="{pw}" height="{ph}" '
                     f'fill="none" stroke="#999"/>')
        for frac in (-1, -0.5, 0, 0.5, 1):
            v = frac * span_us
            parts.append(f'<line x1="{PAD_L}" x2="{PAD_L + pw}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" '
                         f'stroke="#eee"/><text x="{PAD_L - 5}" y="{Y(v) + 4:.1f}" '
                         f'text-anchor="end">{v:.{0 if span_us >= 10 else 1}f}</text>')
        step = 10 if dur > 30 else 5
        for t in range(0, int(dur) + 1, step):
            parts.append(f'<text x="{X(t):.1f}" y="{y0 + H - PAD_B + 14}" text-anchor="middle">{t} s</text>')
        own = [(ev, "#2ca02c") for ev in (marks[ai] if marks else [])]
        for k, (ev, color) in enumerate([(ev, "#d62728") for ev in events] + own):
            parts.append(f'<line x1="{X(ev["t"]):.1f}" x2="{X(ev["t"]):.1f}" y1="{y0 + PAD_T}" '
                         f'y2="{y0 + PAD_T + ph}" stroke="{color}" stroke-dasharray="3,3"/>')
            if labels or color != "#d62728":
                parts.append(f'<text x="{X(ev["t"]) + 3:.1f}" y="{y0 + PAD_T + 11 + 11 * (k % 3)}" '
                             f'fill="{color}">{ev["event"]}</text>')

        def polyline(vals, color, width):
            # One polyline per contiguous run (gaps: readings refused).
            runs, cur, last_t = [], [], None
            for t, v in vals:
                if last_t is not None and t - last_t > 0.5:
                    runs.append(cur)
                    cur = []
                cur.append(f"{X(t):.1f},{Y(v):.1f}")
                last_t = t
            runs.append(cur)
            for r in runs:
                if len(r) > 1:
                    parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="{width}" '
                                 f'points="{" ".join(r)}"/>')

        polyline([(r[0], r[2]) for r in pts if r[2] is not None], "#888", 1)
        polyline([(r[0], -r[2]) for r in pts if r[2] is not None], "#888", 1)
        polyline([(r[0], r[1]) for r in pts], "#1f77b4", 1)
    parts.append("</svg>")
    write(svg_path, "\n".join(parts) + "\n")
