"""Visits as time spans: the true ones derived from ground truth, and the kinds they earn.

A true visit follows the contract's definition (docs/contract.md): one person's feet point
(the bottom centre of the labelled box) continuously inside the zone, from the first frame seen
inside to the last; gaps of at most the exit grace are joined into one visit.

Ignore boxes (MOT ``conf=0``: occluded, a sliver behind a pillar, a head above a display)
still mean the person is there, but their bottom edge is not where the feet are. So they are
"present, position unknown": they never start, extend or end a visit on their own, and a run of
them between two frames seen inside counts as inside (the person was hidden, not gone), however
long it is. A run of them next to a frame seen outside is treated as outside.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from evaluation.gt import GtBox, by_person

Inside = Callable[[float, float], bool]
KINDS = ("impression", "discovery", "engagement")


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Dwell thresholds and exit grace of one zone (the edge config's defaults)."""

    confirm_s: float = 0.5
    discovery_s: float = 3.0
    engagement_s: float = 10.0
    exit_grace_s: float = 2.0

    def kinds(self, dwell_s: float) -> tuple[str, ...]:
        """The counted kinds a visit of this dwell earns (a funnel: each implies the one before)."""
        out: list[str] = []
        for kind, threshold in zip(KINDS, (self.confirm_s, self.discovery_s, self.engagement_s),
                                   strict=True):  # fmt: skip
            if dwell_s + 1e-9 < threshold:
                break
            out.append(kind)
        return tuple(out)


@dataclass(frozen=True, slots=True)
class Span:
    """One visit as a time span (seconds from the first frame). ``label`` names who/what."""

    start: float
    end: float
    label: str
    kinds: tuple[str, ...] = field(default=())

    @property
    def dwell(self) -> float:
        return self.end - self.start

    @property
    def confirmed(self) -> bool:
        return "impression" in self.kinds


def frame_time(frame: int, fps: float) -> float:
    """Clock of 1-based MOT frame ``frame``: frame 1 is t = 0 (the replay's first frame)."""
    return (frame - 1) / fps


def inside_times(seq: Sequence[GtBox], inside: Inside, fps: float) -> list[float]:
    """Times one person (boxes sorted by frame) counts as inside, ignore boxes resolved."""
    states: list[tuple[int, bool | None]] = []  # (frame, inside?) ; None = position unknown
    for b in seq:
        states.append((b.frame, inside(*b.feet) if b.evaluate else None))
    times: list[float] = []
    i = 0
    while i < len(states):
        frame, state = states[i]
        if state is not None:
            if state:
                times.append(frame_time(frame, fps))
            i += 1
            continue
        # a run of unknown frames: inside only if bounded by inside frames with no frame missing
        j = i
        while j < len(states) and states[j][1] is None:
            j += 1
        before = states[i - 1] if i > 0 else None
        after = states[j] if j < len(states) else None
        contiguous = (before is not None and after is not None
                      and after[0] - before[0] == j - i + 1)  # fmt: skip
        if contiguous and before[1] and after[1]:
            times.extend(frame_time(f, fps) for f, _ in states[i:j])
        i = j
    return times


def join(times: Iterable[float], grace_s: float) -> list[tuple[float, float]]:
    """Sorted times -> spans, a new span after a gap longer than the grace."""
    spans: list[tuple[float, float]] = []
    for t in sorted(times):
        if spans and t - spans[-1][1] <= grace_s + 1e-9:
            spans[-1] = (spans[-1][0], t)
        else:
            spans.append((t, t))
    return spans


def true_visits(
    boxes: Iterable[GtBox], inside: Inside, fps: float, rules: Thresholds = Thresholds()
) -> list[Span]:
    """Every person's visits to one zone, sorted by start; unconfirmed ones included."""
    out: list[Span] = []
    for person, seq in sorted(by_person(boxes).items()):
        for start, end in join(inside_times(seq, inside, fps), rules.exit_grace_s):
            out.append(Span(start, end, f"id{person}", rules.kinds(end - start)))
    return sorted(out, key=lambda s: (s.start, s.label))


def track_visits(
    tracks: Iterable[tuple[float, int, tuple[float, float]]],
    inside: Inside,
    rules: Thresholds = Thresholds(),
) -> list[Span]:
    """The naive rule: one visit per tracker id, first..last time its feet were inside.

    ``tracks`` holds (t, track_id, feet). The confirm threshold still applies (a visit
    shorter than confirm_s earns no kind), so a one-frame flicker is not a visit.
    """
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for t, tid, feet in tracks:
        if inside(*feet):
            first.setdefault(tid, t)
            first[tid] = min(first[tid], t)
            last[tid] = max(last.get(tid, t), t)
    out = [Span(first[k], last[k], f"track{k}", rules.kinds(last[k] - first[k])) for k in first]
    return sorted(out, key=lambda s: (s.start, s.label))
