#!/usr/bin/env python3
"""Draws benches/chart.svg and prints the Markdown tables of BENCHMARKS.md from one run of
`cargo bench -p mqtt-benches`.

Reads (Python standard library only):
  <target>/criterion/<group>/<function>[/<size>]/new/{estimates,benchmark}.json  (codec, session)
  <target>/mqtt-benches/e2e.json      (end to end, written by benches/benches/e2e.rs)
  <target>/mqtt-benches/memory.json   (allocations and RSS, written by benches/benches/memory.rs)
  <target>/mqtt-benches/instructions.json  (callgrind counts, written by `examples/ops.rs table`)

Usage: python3 benches/chart.py [--target DIR] [--svg PATH] > tables.md
Criterion figures are the median of the sample means (criterion's `median` estimate).
"""

import argparse
import json
import math
import os
import sys
from html import escape

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

OURS = "#1f6fb4"
OURS2 = "#5aa2dc"
OURS3 = "#9cc7ea"
THEIRS = "#e8781e"
THEIRS2 = "#f3b27a"
GRID = "#d9d9d9"
TEXT = "#222222"
COLORS = {
    "ours": OURS,
    "rumqttc": THEIRS,
    "ours-blocking": OURS,
    "ours-mio": OURS2,
    "ours-async": OURS3,
    "rumqttc-async": THEIRS,
    "rumqttc-blocking": THEIRS2,
}
# Which rumqttc client each of ours is compared with in the end-to-end ratios.
COUNTERPART = {
    "ours-blocking": "rumqttc-blocking",
    "ours-mio": "rumqttc-async",
    "ours-async": "rumqttc-async",
}


def load_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def criterion_results(target):
    """{(group, function, param): (median_ns, throughput_dict)} for our groups."""
    base = os.path.join(target, "criterion")
    out = {}
    for dirpath, _dirs, files in os.walk(base):
        if os.path.basename(dirpath) != "new" or "estimates.json" not in files:
            continue
        meta = load_json(os.path.join(dirpath, "benchmark.json"))
        est = load_json(os.path.join(dirpath, "estimates.json"))
        if not meta or not est:
            continue
        group = meta.get("group_id", "")
        if not group.startswith(("decode_", "encode_", "session_")):
            continue
        key = (group, meta.get("function_id"), meta.get("value_str"))
        out[key] = (est["median"]["point_estimate"], meta.get("throughput") or {})
    return out


def fmt_rate(bytes_per_s):
    for unit, div in (("GiB/s", 2**30), ("MiB/s", 2**20), ("KiB/s", 2**10)):
        if bytes_per_s >= div:
            return f"{bytes_per_s / div:.2f} {unit}"
    return f"{bytes_per_s:.0f} B/s"


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.1f} ns"


def size_label(s):
    s = int(s)
    return f"{s // 1024} KiB" if s >= 1024 else f"{s} B"


# ------------------------------------------------------------------------------ tables

def codec_rows(crit):
    rows = []
    for kind in ("decode", "encode"):
        for ver in ("v311", "v5"):
            for q in (0, 1):
                group = f"{kind}_{ver}_qos{q}"
                for size in ("16", "256", "4096", "65536"):
                    o = crit.get((group, "ours", size))
                    t = crit.get((group, "rumqttc", size))
                    if o and t:
                        nbytes = o[1].get("Bytes", 0)
                        rows.append({
                            "kind": kind, "label": f"{kind} {ver} QoS {q} {size_label(size)}",
                            "ours_ns": o[0], "theirs_ns": t[0], "bytes": nbytes,
                            "ratio": t[0] / o[0],
                        })
    for stream in ("mixed", "small"):
        for ver in ("v311", "v5"):
            group = f"decode_{stream}_1MiB_{ver}"
            o = crit.get((group, "ours", None))
            t = crit.get((group, "rumqttc", None))
            if o and t:
                rows.append({
                    "kind": "decode", "label": f"decode {ver} {stream} 1 MiB",
                    "ours_ns": o[0], "theirs_ns": t[0], "bytes": o[1].get("Bytes", 0),
                    "ratio": t[0] / o[0],
                })
    return rows


def session_rows(crit):
    rows = []
    for flow in ("publish", "receive"):
        for q in (0, 1, 2):
            group = f"session_{flow}_qos{q}"
            o = crit.get((group, "ours", None))
            t = crit.get((group, "rumqttc", None))
            if o and t:
                per = o[1].get("Elements", 1)
                rows.append({
                    "label": f"{flow} QoS {q}", "ours_ns": o[0] / per,
                    "theirs_ns": t[0] / t[1].get("Elements", 1), "ratio": t[0] / o[0],
                })
    return rows


def print_tables(crit, e2e, mem, instr=None):
    out = []
    p = out.append
    if instr:
        p("### Instructions per operation (callgrind; `target/release/examples/ops table`)\n")
        p("| operation | ours (Ir) | rumqttc (Ir) | ours / rumqttc |")
        p("|---|---:|---:|---:|")
        for r in instr["rows"]:
            p(f"| {r['what']} | {r['ours_ir']:,.0f} | {r['rumqttc_ir']:,.0f} | "
              f"{r['ours_ir'] / r['rumqttc_ir']:.2f}x |")
        p("")
    codec = codec_rows(crit)
    if codec:
        p("### Codec (criterion medians; throughput over the encoded packet bytes)\n")
        p("| benchmark | ours | rumqttc | ours/rumqttc throughput | target |")
        p("|---|---:|---:|---:|---|")
        for r in codec:
            rate = lambda ns: fmt_rate(r["bytes"] / (ns * 1e-9)) if r["bytes"] else fmt_ns(ns)
            goal = 2.0 if r["kind"] == "decode" else 1.5
            mark = "met" if r["ratio"] >= goal else f"missed ({r['ratio'] / goal:.0%} of {goal}x)"
            p(f"| {r['label']} | {rate(r['ours_ns'])} ({fmt_ns(r['ours_ns'])}) | "
              f"{rate(r['theirs_ns'])} ({fmt_ns(r['theirs_ns'])}) | {r['ratio']:.2f}x | "
              f">= {goal}x: {mark} |")
        p("")
    sess = session_rows(crit)
    if sess:
        p("### Session: cost per message (criterion medians)\n")
        p("| flow (3.1.1, 64 B) | ours | rumqttc | ours/rumqttc throughput |")
        p("|---|---:|---:|---:|")
        for r in sess:
            p(f"| {r['label']} | {fmt_ns(r['ours_ns'])} | {fmt_ns(r['theirs_ns'])} | "
              f"{r['ratio']:.2f}x |")
        p("")
    if e2e:
        summ = {(s["imp"], int(s["qos"])): s for s in e2e["summary"]}
        imps = []
        for s in e2e["summary"]:
            if s["imp"] not in imps:
                imps.append(s["imp"])
        p(f"### End to end over mosquitto (median of {int(e2e['reps'])} runs; "
          f"{int(e2e['payload'])} B payloads)\n")
        p("| QoS | client | msg/s | throughput ratio | pub CPU µs/msg | sub CPU µs/msg | "
          "pub+sub CPU µs/msg | CPU ratio |")
        p("|---|---|---:|---:|---:|---:|---:|---:|")
        for q in (0, 1, 2):
            for imp in imps:
                s = summ.get((imp, q))
                if not s:
                    continue
                tp = s["throughput_msgs_per_s"]
                cpu = (s["pub_cpu_ns_per_msg"] + s["sub_cpu_ns_per_msg"]) / 1e3
                ratio_t = ratio_c = "—"
                other = summ.get((COUNTERPART.get(imp), q))
                if other:
                    ratio_t = f"{tp / other['throughput_msgs_per_s']:.2f}x vs {other['imp']}"
                    ocpu = (other["pub_cpu_ns_per_msg"] + other["sub_cpu_ns_per_msg"]) / 1e3
                    ratio_c = f"{cpu / ocpu:.2f}x vs {other['imp']}"
                lost = f" ({int(s['lost'])} lost)" if s.get("lost") else ""
                failed = f" ({int(s['failed'])} failed)" if s.get("failed") else ""
                p(f"| {q} | {imp} | {tp:,.0f}{lost}{failed} | {ratio_t} | "
                  f"{s['pub_cpu_ns_per_msg'] / 1e3:.2f} | {s['sub_cpu_ns_per_msg'] / 1e3:.2f} | "
                  f"{cpu:.2f} | {ratio_c} |")
        p("")
    if mem:
        p("### Heap allocations per message\n")
        p("Protocol layer (Session vs MqttState + codec, no sockets):\n")
        p("| flow | QoS | ours allocs | rumqttc allocs | ours bytes | rumqttc bytes |")
        p("|---|---|---:|---:|---:|---:|")
        for r in mem["protocol_layer"]:
            p(f"| {r['flow']} | {int(r['qos'])} | {r['ours_allocs_per_msg']:.2f} | "
              f"{r['rumqttc_allocs_per_msg']:.2f} | {r['ours_bytes_per_msg']:.0f} | "
              f"{r['rumqttc_bytes_per_msg']:.0f} |")
        p("")
        if mem.get("clients"):
            p("Whole clients over mosquitto (per process, GO..STOP):\n")
            p("| QoS | client | publisher allocs | subscriber allocs | publisher bytes | "
              "subscriber bytes |")
            p("|---|---|---:|---:|---:|---:|")
            for r in mem["clients"]:
                p(f"| {int(r['qos'])} | {r['imp']} | {r['pub_allocs_per_msg']:.2f} | "
                  f"{r['sub_allocs_per_msg']:.2f} | {r['pub_bytes_per_msg']:.0f} | "
                  f"{r['sub_bytes_per_msg']:.0f} |")
            p("")
        if mem.get("idle_rss"):
            p("### Idle connection, peak RSS (VmHWM, median of 3)\n")
            p("| client | VmHWM KiB | over the no-client baseline KiB |")
            p("|---|---:|---:|")
            for r in mem["idle_rss"]:
                p(f"| {r['imp']} | {r['vm_hwm_kib']:.0f} | {r['over_baseline_kib']:.0f} |")
            p("")
        if mem.get("failures"):
            p("Failures: " + "; ".join(mem["failures"]) + "\n")
    return "\n".join(out)


# ------------------------------------------------------------------------------ SVG

class Svg:
    def __init__(self, width):
        self.width = width
        self.y = 0
        self.parts = []

    def text(self, x, y, s, size=12, anchor="start", weight="normal", color=TEXT):
        self.parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{color}">{escape(str(s))}</text>')

    def rect(self, x, y, w, h, color, title=None):
        t = f"<title>{escape(title)}</title>" if title else ""
        opacity = ""
        if len(color) == 9:  # "#rrggbbaa": write the alpha as fill-opacity (SVG 1.1)
            opacity = f' fill-opacity="{int(color[7:], 16) / 255:.2f}"'
            color = color[:7]
        self.parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" height="{h:.1f}" '
            f'fill="{color}"{opacity}>{t}</rect>')

    def line(self, x1, y1, x2, y2, color=GRID, dash=None, width=1):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{width}"{d}/>')

    def render(self):
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
                f'height="{self.y + 10}" viewBox="0 0 {self.width} {self.y + 10}" '
                f'font-family="DejaVu Sans, Helvetica, Arial, sans-serif">\n'
                f'<rect width="100%" height="100%" fill="white"/>\n'
                + "\n".join(self.parts) + "\n</svg>\n")

    def hbars(self, title, note, rows, unit, log=False, refs=(), value_fmt=None, legend=()):
        """rows: [(label, [(series, value, color)], stacked)]; one horizontal bar per series."""
        left, right = 250, self.width - 90
        bar_h, gap = 11, 7
        value_fmt = value_fmt or (lambda v: f"{v:.3g}")
        vals = [v for _, series, _ in rows for _, v, _ in series if v and v > 0]
        stacked_vals = [sum(v for _, v, _ in series) for _, series, st in rows if st]
        if not vals:
            return
        vmax = max(vals + stacked_vals + [r[0] for r in refs])
        if log:
            vmin = min(vals + [r[0] for r in refs]) / 1.5
            lo, hi = math.log10(vmin), math.log10(vmax * 1.15)
            scale = lambda v: left + (math.log10(max(v, vmin)) - lo) / (hi - lo) * (right - left)
        else:
            scale = lambda v: left + v / (vmax * 1.08) * (right - left)
        self.y += 28
        self.text(10, self.y, title, size=15, weight="bold")
        self.y += 16
        self.text(10, self.y, note, size=11, color="#555555")
        lx = 10
        self.y += 16
        for name, color in legend:
            self.rect(lx, self.y - 9, 10, 10, color)
            self.text(lx + 14, self.y, name, size=11)
            lx += 24 + 7 * len(name)
        self.y += 8
        top = self.y
        for label, series, stacked in rows:
            n = 1 if stacked else len(series)
            block = n * bar_h + gap
            self.text(left - 8, self.y + block / 2 + 2, label, size=11, anchor="end")
            acc = 0.0
            for i, (sname, v, color) in enumerate(series):
                if v is None:
                    continue
                yb = self.y + (0 if stacked else i * bar_h)
                if stacked:
                    xs, xe = scale(acc) if acc else left, scale(acc + v)
                    acc += v
                else:
                    xs, xe = left, scale(v)
                self.rect(xs, yb, xe - xs, bar_h - 1, color, f"{label} {sname}: {value_fmt(v)} {unit}")
                if not stacked:
                    self.text(xe + 4, yb + bar_h - 2, value_fmt(v), size=10)
            if stacked:
                self.text(scale(acc) + 4, self.y + bar_h - 2, value_fmt(acc), size=10)
            self.y += block
        bottom = self.y
        self.line(left, top - 4, left, bottom, color="#888888")
        for v, label, color in refs:
            x = scale(v)
            self.line(x, top - 4, x, bottom, color=color, dash="4,3", width=1.5)
            self.text(x + 3, top - 6, label, size=10, color=color)
        self.y += 6
        self.text(right, self.y + 8, unit + (" (log scale)" if log else ""), size=10, anchor="end",
                  color="#555555")
        self.y += 10


def draw(crit, e2e, mem, path, machine, instr=None):
    svg = Svg(1000)
    svg.y = 6
    svg.text(10, svg.y + 18, "mqtt-sansio vs rumqttc 0.25 — one run of cargo bench -p mqtt-benches",
             size=17, weight="bold")
    svg.y += 22
    if machine:
        svg.text(10, svg.y + 14, machine, size=11, color="#555555")
        svg.y += 14

    if instr:
        rows = [(r["what"], [("ours/rumqttc", r["ours_ir"] / r["rumqttc_ir"],
                              OURS if r["ours_ir"] <= r["rumqttc_ir"] else THEIRS)], False)
                for r in instr["rows"]]
        svg.hbars("Instructions per operation, ours relative to rumqttc (lower is better)",
                  "callgrind, exact and repeatable: target/release/examples/ops table; <1x: ours "
                  "executes fewer instructions",
                  rows, "times rumqttc's instructions",
                  refs=[(0.5, "0.5x", "#2a9d4b"), (1.0, "1x", "#444444")],
                  value_fmt=lambda v: f"{v:.2f}x")
    codec = codec_rows(crit)
    if codec:
        rows = [(r["label"], [("ours/rumqttc", r["ratio"], OURS if r["ratio"] >= 1 else THEIRS)],
                 False) for r in codec]
        svg.hbars("Codec: throughput of ours relative to rumqttc's codec (higher is better)",
                  "same bytes, same run; >1x: ours is faster. Targets: decode >= 2x, encode >= 1.5x",
                  rows, "times rumqttc's throughput", log=True,
                  refs=[(1.0, "1x", "#444444"), (1.5, "1.5x", "#2a9d4b"), (2.0, "2x", "#c0392b")],
                  value_fmt=lambda v: f"{v:.2f}x")
    sess = session_rows(crit)
    if sess:
        rows = [(r["label"], [("ours", r["ours_ns"], OURS), ("rumqttc", r["theirs_ns"], THEIRS)],
                 False) for r in sess]
        svg.hbars("Protocol layer: time per message (lower is better)",
                  "our Session vs rumqttc's MqttState + codec, no sockets, MQTT 3.1.1, 64 B payloads",
                  rows, "ns per message", legend=[("ours (Session)", OURS),
                                                  ("rumqttc (MqttState + codec)", THEIRS)],
                  value_fmt=lambda v: f"{v:.0f}")
    if e2e:
        summ = e2e["summary"]
        imps = []
        for s in summ:
            if s["imp"] not in imps:
                imps.append(s["imp"])
        legend = [(i, COLORS.get(i, "#888888")) for i in imps]
        rows = []
        for q in (0, 1, 2):
            series = [(s["imp"], s["throughput_msgs_per_s"], COLORS.get(s["imp"], "#888888"))
                      for s in summ if int(s["qos"]) == q]
            rows.append((f"QoS {q}", series, False))
        svg.hbars("End to end over mosquitto on loopback: messages per second (higher is better)",
                  f"publisher and subscriber of the same client, {int(e2e['payload'])} B payloads, "
                  f"median of {int(e2e['reps'])} runs",
                  rows, "messages per second", legend=legend, value_fmt=lambda v: f"{v:,.0f}")
        rows = []
        for q in (0, 1, 2):
            for s in summ:
                if int(s["qos"]) != q:
                    continue
                c = COLORS.get(s["imp"], "#888888")
                rows.append((f"QoS {q} {s['imp']}",
                             [("publisher", s["pub_cpu_ns_per_msg"] / 1e3, c),
                              ("subscriber", s["sub_cpu_ns_per_msg"] / 1e3, c + "99")], True))
        svg.hbars("End to end: client CPU time per message (lower is better)",
                  "process CPU time of the publisher (solid) + the subscriber (light), GO..STOP",
                  rows, "µs of CPU per message", value_fmt=lambda v: f"{v:.1f}")
    if mem:
        rows = []
        for r in mem["protocol_layer"]:
            rows.append((f"{r['flow']} QoS {int(r['qos'])}",
                         [("ours", r["ours_allocs_per_msg"], OURS),
                          ("rumqttc", r["rumqttc_allocs_per_msg"], THEIRS)], False))
        svg.hbars("Heap allocations per message, protocol layer (lower is better)",
                  "counting global allocator; alloc + realloc calls per message in steady state",
                  rows, "allocations per message", legend=[("ours", OURS), ("rumqttc", THEIRS)],
                  refs=[(1.0, "1", "#c0392b")], value_fmt=lambda v: f"{v:.2f}")
        if mem.get("clients"):
            rows = []
            for q in (0, 1, 2):
                for r in mem["clients"]:
                    if int(r["qos"]) != q:
                        continue
                    c = COLORS.get(r["imp"], "#888888")
                    rows.append((f"QoS {q} {r['imp']}",
                                 [("publisher", r["pub_allocs_per_msg"], c),
                                  ("subscriber", r["sub_allocs_per_msg"], c + "99")], True))
            svg.hbars("Heap allocations per message, whole clients over mosquitto (lower is better)",
                      "publisher (solid) + subscriber (light) process",
                      rows, "allocations per message", value_fmt=lambda v: f"{v:.2f}")
        if mem.get("idle_rss"):
            rows = [(r["imp"], [("over baseline", r["over_baseline_kib"],
                                 COLORS.get(r["imp"], "#888888"))], False)
                    for r in mem["idle_rss"] if r["imp"] != "none"]
            svg.hbars("Idle connection: peak RSS above a process with no client (lower is better)",
                      "VmHWM of a child process that connected and idled 2 s, minus the baseline",
                      rows, "KiB", value_fmt=lambda v: f"{v:.0f}")
    with open(path, "w") as f:
        f.write(svg.render())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=os.environ.get("CARGO_TARGET_DIR",
                                                        os.path.join(ROOT, "target")))
    ap.add_argument("--svg", default=os.path.join(HERE, "chart.svg"))
    ap.add_argument("--machine", default="", help="a line describing the machine, for the chart")
    args = ap.parse_args()
    crit = criterion_results(args.target)
    e2e = load_json(os.path.join(args.target, "mqtt-benches", "e2e.json"))
    mem = load_json(os.path.join(args.target, "mqtt-benches", "memory.json"))
    instr = load_json(os.path.join(args.target, "mqtt-benches", "instructions.json"))
    if not crit and not e2e and not mem and not instr:
        sys.exit(f"no results under {args.target}; run `cargo bench -p mqtt-benches` first")
    draw(crit, e2e, mem, args.svg, args.machine, instr)
    print(print_tables(crit, e2e, mem, instr))
    print(f"chart written to {os.path.relpath(args.svg, ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
