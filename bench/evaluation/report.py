"""Plain-text tables of the evaluation: per clip, each system side by side, then overall."""

from __future__ import annotations

from collections.abc import Sequence

from evaluation.matching import DWELL_OK_SHARE, ZoneScore
from evaluation.visits import KINDS

W_LABEL, W_COL = 34, 19


def _counts(c: dict[str, int]) -> str:
    return "/".join(str(c[k]) for k in KINDS)


def _frac(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.0f} %)" if d else "-"


def _row(label: str, cells: Sequence[str]) -> str:
    return (label.ljust(W_LABEL) + "".join(c.ljust(W_COL) for c in cells)).rstrip()


def _yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def visit_rows(truth: ZoneScore, scores: Sequence[ZoneScore]) -> list[tuple[str, list[str]]]:
    matched = [_frac(s.matched, s.countable) for s in scores]
    rows = [
        ("visits matched", [str(truth.countable)] + matched),
        (
            "dwell within max(1.5 s, 15 %)",
            [""] + [_frac(s.dwell_within, s.countable) for s in scores],
        ),  # fmt: skip
    ]
    errs = []
    for s in scores:
        d = s.summary()
        med, worst = d["dwell_err_median_s"], d["dwell_err_worst_s"]
        errs.append("-" if med is None else f"{med:.2f} / {worst:.2f}")
    rows += [
        ("dwell error median / worst (s)", [""] + errs),
        ("merges / splits", [""] + [f"{s.merges} / {s.splits}" for s in scores]),
        ("missed / extra visits", [""] + [f"{s.missed} / {s.extra}" for s in scores]),
    ]
    return rows


def target_rows(scores: Sequence[ZoneScore], recall40: Sequence[tuple[int, int] | None]):
    rows = [
        (
            f"target: dwell ok >= {DWELL_OK_SHARE:.0%}",
            [""] + [_yes(s.targets_met["dwell"]) for s in scores],
        ),  # fmt: skip
        ("target: counts within 5 %", [""] + [_yes(s.targets_met["counts"]) for s in scores]),
        ("target: no merged visits", [""] + [_yes(s.targets_met["no_merges"]) for s in scores]),
        (
            "target: recall >= 90 % at >= 40 px",
            [""] + ["-" if r is None or not r[1] else _yes(r[0] >= 0.9 * r[1]) for r in recall40],
        ),
    ]
    return rows


def clip_table(result: dict, systems: Sequence[str]) -> str:
    """One clip: ``result`` is the clip's entry of the JSON document (see accuracy.py)."""
    info = result["info"]
    lines = [f"== {result['clip']}: {info['width']}x{info['height']}, {info['fps']:g} fps, "
             f"{info['duration_s']:.1f} s, {len(result['zones'])} zones =="]  # fmt: skip
    lines.append(_row("", ["truth"] + list(systems)))
    lines.append(_row("counts imp/disc/eng", []))
    for loc, z in result["zones"].items():
        lines.append(_row(f"  {loc}", [_counts(z["truth_counts"])]
                          + [_counts(z[s]["pred_counts"]) for s in systems]))  # fmt: skip
    truth = result["score_objs"]["truth"]
    scores = [result["score_objs"][s] for s in systems]
    lines.append(_row("  all zones", [_counts(truth.true_counts)]
                      + [_counts(s.pred_counts) for s in scores]))  # fmt: skip
    for label, cells in visit_rows(truth, scores):
        lines.append(_row(label, cells))
    lines += _frame_rows(result, systems)
    recall40 = [result["systems"][s].get("recall", {}).get(">=40") for s in systems]
    for label, cells in target_rows(scores, recall40):
        lines.append(_row(label, cells))
    notes = [f"  {s}: {n}" for s in systems for n in result["systems"][s]["visits"]["notes"]]
    notes += [f"  {s}: CLOCK MISMATCH {result['systems'][s]['time_warning']}"
              for s in systems if "time_warning" in result["systems"][s]]  # fmt: skip
    if notes:
        lines.append("notes:")
        lines += notes
    return "\n".join(lines)


def _frame_rows(result: dict, systems: Sequence[str]) -> list[str]:
    lines = []
    sysd = [result["systems"][s] for s in systems]
    keys = [k for k in (sysd[0].get("recall") or {}) if k not in ("all",)]
    for k in keys:
        label = "recall >= 40 px" if k == ">=40" else f"recall {k} px"
        cells = [_frac(*d["recall"][k]) if d.get("recall") else "-" for d in sysd]
        lines.append(_row(label, [""] + cells))
    if any(d.get("identity") for d in sysd):
        cells = []
        for d in sysd:
            i = d.get("identity")
            cells.append(f"{i['idf1']:.2f} / {i['mota']:.2f} / {i['id_switches']}" if i else "-")
        lines.append(_row("IDF1 / MOTA / ID switches", [""] + cells))
        cells = []
        for d in sysd:
            i = d.get("identity")
            cells.append(f"{i['hota']:.2f} ({i['deta']:.2f}/{i['assa']:.2f})" if i else "-")
        lines.append(_row("HOTA (DetA/AssA)", [""] + cells))
    cells = [f"{d['frames_run']} fr, {d['wall_s']:.1f} s" if d.get("frames_run") else "-"
             for d in sysd]  # fmt: skip
    lines.append(_row("frames run on, wall time", [""] + cells))
    return lines


def overall_table(results: Sequence[dict], systems: Sequence[str]) -> str:
    truth = ZoneScore.empty()
    scores = {s: ZoneScore.empty() for s in systems}
    recall = {s: [0, 0] for s in systems}
    for r in results:
        truth = truth + r["score_objs"]["truth"]
        for s in systems:
            scores[s] = scores[s] + r["score_objs"][s]
            rc = r["systems"][s].get("recall", {}).get(">=40")
            if rc:
                recall[s][0] += rc[0]
                recall[s][1] += rc[1]
    lines = [f"== overall: {len(results)} clips =="]
    lines.append(_row("", ["truth"] + list(systems)))
    lines.append(_row("counts imp/disc/eng", [_counts(truth.true_counts)]
                      + [_counts(scores[s].pred_counts) for s in systems]))  # fmt: skip
    for label, cells in visit_rows(truth, [scores[s] for s in systems]):
        lines.append(_row(label, cells))
    lines.append(_row("recall >= 40 px", [""] + [_frac(*recall[s]) for s in systems]))
    for label, cells in target_rows([scores[s] for s in systems],
                                    [tuple(recall[s]) for s in systems]):  # fmt: skip
        lines.append(_row(label, cells))
    return "\n".join(lines)
