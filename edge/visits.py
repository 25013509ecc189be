"""Visits and dwell per location: pure logic, timestamps passed in, no I/O.

A visit is one tracked person's continuous presence in one location: it starts
at the first frame their feet point is seen inside and ends at the last frame
seen inside, and is closed once they have been outside or unseen for longer
than the exit grace. Within the grace, a missed detection, an occlusion or a
tracker id change continues the same visit: a new track id that appears close
to where a just-lost visit was last seen, and looks like it (colour descriptor, when
the observations carry one), takes that visit over.

A store is one more location of the same kind (``union_inside``, ``union_rules``):
its floor is the union of a camera's zones and its product areas theirs, so a person
walking from one zone to another is one store visit when the walk between them is
shorter than the exit grace.

Each counted kind fires at most once per visit, when its threshold is crossed.
``occurred_at`` is the crossing moment (start + threshold) and ``dwell_s`` the
threshold itself, so the numbers do not depend on the processing rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from exteros.contract import EventKind

Point = tuple[float, float]
Inside = Callable[[float, float], bool]
Near = Callable[[float, float, float], bool]  # (x, y, tolerance px) -> touching

# A wrist may drop out of the keypoint model for a frame or two during a touch.
HAND_GAP_S = 0.35
# A hand counts only while the person's feet are about still: a walker's hand swinging
# past a shelf is not a touch (bench/hands_eval.py: on the CAVIAR clips it removed 4 of
# the 5 walker firings at 0.3 heights/s; people walk at ~0.6-0.9 heights per second).
HAND_STILL_H_PER_S = 0.3
# Re-association gate: how far (in person heights) a lost visit may have moved.
GATE_BASE_H = 0.6
GATE_PER_S_H = 1.0
# Appearance (cosine similarity of colour descriptors, edge.appearance): below this a
# new track is another person, whatever its distance; above it, similarity counts as
# distance saved (in person heights) when several candidates compete.
APPEARANCE_MIN = 0.6
APPEARANCE_WEIGHT_H = 2.0
APPEARANCE_EMA = 0.2  # weight of a new observation in a visit's running descriptor


@dataclass(frozen=True, slots=True)
class Rules:
    """Thresholds of one location (from its zone config)."""

    confirm_s: float = 0.5
    discovery_s: float = 3.0
    engagement_s: float = 10.0
    exit_grace_s: float = 2.0
    interaction_s: float = 0.2


def union_rules(rules: Sequence[Rules]) -> Rules:
    """Thresholds of a location made of several zones (a camera's store).

    The most lenient of each: the lowest confirm/discovery/engagement/interaction times
    and the longest exit grace. So the store never has a stricter rule than one of its
    zones, and whatever a zone counts for a person, the store counts too (its visit
    holds the zone visit and is at least as long). The funnel order is kept.
    """
    if not rules:
        raise ValueError("a store needs at least one zone")
    return Rules(
        confirm_s=min(r.confirm_s for r in rules),
        discovery_s=min(r.discovery_s for r in rules),
        engagement_s=min(r.engagement_s for r in rules),
        exit_grace_s=max(r.exit_grace_s for r in rules),
        interaction_s=min(r.interaction_s for r in rules),
    )


def union_inside(insides: Sequence[Inside]) -> Inside:
    """Inside any of the regions: the floor of a store seen through several zones."""
    tests = tuple(insides)

    def inside(x: float, y: float) -> bool:
        return any(test(x, y) for test in tests)

    return inside


@dataclass(frozen=True, slots=True)
class Observation:
    """One tracked person in one processed frame (pixels)."""

    track_id: int
    feet: Point
    height: float
    conf: float
    wrists: tuple[Point, ...] = ()  # visible hand points (edge/hands.py), not raw wrists
    # colour descriptor of the box (a unit vector), when the pipeline computed one
    appearance: Any = field(default=None, compare=False)
    hand_tol: float = 0.0  # pixels: a hand this close to a product area touches it


@dataclass(slots=True)
class Visit:
    first_track_id: int  # with the start time, a deterministic visit identity
    track_id: int
    start_t: float
    last_in_t: float
    last_feet: Point
    height: float
    conf_sum: float = 0.0
    conf_n: int = 0
    kinds: list[EventKind] = field(default_factory=list)
    hand_since: float | None = None
    hand_last: float | None = None
    interaction_due: bool = False
    appearance: Any = None  # running colour descriptor of the person (unit vector)

    @property
    def confidence(self) -> float:
        return self.conf_sum / self.conf_n if self.conf_n else 0.0

    @property
    def confirmed(self) -> bool:
        return EventKind.impression in self.kinds

    def dwell(self, t: float | None = None) -> float:
        return max(0.0, (self.last_in_t if t is None else t) - self.start_t)


@dataclass(frozen=True, slots=True)
class Fired:
    """A counted kind crossed: ``at`` is the crossing time, ``dwell_s`` the dwell then."""

    visit: Visit
    kind: EventKind
    at: float
    dwell_s: float


@dataclass(frozen=True, slots=True)
class Ended:
    """A confirmed visit closed (unconfirmed ones are noise and end silently)."""

    visit: Visit


Change = Fired | Ended


class LocationVisits:
    """Open visits of one location on one camera."""

    def __init__(
        self,
        rules: Rules,
        inside: Inside,
        product_areas: Sequence[Near] = (),
    ) -> None:
        self.rules = rules
        self.inside = inside
        self.product_areas = list(product_areas)
        self.open: list[Visit] = []

    def reconfigure(self, rules: Rules, inside: Inside, product_areas: Sequence[Near]) -> None:
        """New zone geometry/thresholds (config reload): open visits are kept."""
        self.rules, self.inside, self.product_areas = rules, inside, list(product_areas)

    # -- one processed frame -------------------------------------------------------------
    def update(self, t: float, observations: Sequence[Observation]) -> list[Change]:
        changes: list[Change] = []
        seen_ids = {o.track_id for o in observations}
        inside = [o for o in observations if self.inside(*o.feet)]
        by_track = {v.track_id: v for v in self.open}
        matched: dict[int, Visit] = {}  # id(visit) -> visit
        pending: list[Observation] = []
        for o in inside:
            v = by_track.get(o.track_id)
            if v is not None:
                matched[id(v)] = v
                self._observe(v, o, t, changes)
            else:
                pending.append(o)
        if pending:
            self._reassociate(t, pending, seen_ids, matched, changes)
        for o in pending:
            if o.track_id in {v.track_id for v in matched.values()}:
                continue
            v = Visit(o.track_id, o.track_id, t, t, o.feet, o.height)
            self.open.append(v)
            matched[id(v)] = v
            self._observe(v, o, t, changes)
        changes.extend(self._expire(t))
        return changes

    def _reassociate(
        self,
        t: float,
        pending: list[Observation],
        seen_ids: set[int],
        matched: dict[int, Visit],
        changes: list[Change],
    ) -> None:
        """Give a new track id a just-lost visit nearby (occlusion, id switch)."""
        lost = [v for v in self.open
                if id(v) not in matched and v.track_id not in seen_ids
                and t - v.last_in_t <= self.rules.exit_grace_s]  # fmt: skip
        if not lost:
            return
        pairs: list[tuple[float, int, int]] = []
        for i, o in enumerate(pending):
            for j, v in enumerate(lost):
                gap = t - v.last_in_t
                h = max(v.height, o.height, 1.0)
                gate = h * (GATE_BASE_H + GATE_PER_S_H * gap)
                d = ((o.feet[0] - v.last_feet[0]) ** 2 + (o.feet[1] - v.last_feet[1]) ** 2) ** 0.5
                if d > gate:
                    continue
                sim = _similarity(v.appearance, o.appearance)
                if sim is None:
                    pairs.append((d / h, i, j))
                elif sim >= APPEARANCE_MIN:
                    pairs.append((d / h - APPEARANCE_WEIGHT_H * (sim - APPEARANCE_MIN), i, j))
        used_o: set[int] = set()
        used_v: set[int] = set()
        taken: list[Observation] = []
        for _, i, j in sorted(pairs):
            if i in used_o or j in used_v:
                continue
            used_o.add(i)
            used_v.add(j)
            v, o = lost[j], pending[i]
            v.track_id = o.track_id
            matched[id(v)] = v
            self._observe(v, o, t, changes)
            taken.append(o)
        for o in taken:
            pending.remove(o)

    def _observe(self, v: Visit, o: Observation, t: float, changes: list[Change]) -> None:
        r = self.rules
        dt = t - v.last_in_t
        step = ((o.feet[0] - v.last_feet[0]) ** 2 + (o.feet[1] - v.last_feet[1]) ** 2) ** 0.5
        still = dt <= 0 or step / dt <= HAND_STILL_H_PER_S * max(o.height, 1.0)
        v.last_in_t = t
        v.last_feet = o.feet
        v.height = o.height
        v.conf_sum += o.conf
        v.conf_n += 1
        v.appearance = _blend(v.appearance, o.appearance)
        dwell = v.dwell(t)
        for kind, threshold in (
            (EventKind.impression, r.confirm_s),
            (EventKind.discovery, r.discovery_s),
            (EventKind.engagement, r.engagement_s),
        ):
            if kind not in v.kinds and dwell >= threshold:
                # funnel order: a later kind never fires before an earlier one
                if kind is not EventKind.impression and not v.confirmed:
                    break
                v.kinds.append(kind)
                changes.append(Fired(v, kind, v.start_t + threshold, threshold))
        self._hands(v, o, t, still, changes)

    def _hands(
        self, v: Visit, o: Observation, t: float, still: bool, changes: list[Change]
    ) -> None:
        if EventKind.interaction in v.kinds or not self.product_areas:
            return
        touching = still and any(
            area(x, y, o.hand_tol) for x, y in o.wrists for area in self.product_areas
        )
        if touching:
            if v.hand_since is None or (v.hand_last is not None and t - v.hand_last > HAND_GAP_S):
                v.hand_since = t
            v.hand_last = t
            if t - v.hand_since >= self.rules.interaction_s:
                v.interaction_due = True
        elif v.hand_last is not None and t - v.hand_last > HAND_GAP_S:
            v.hand_since = v.hand_last = None
        if v.interaction_due and v.confirmed:
            v.kinds.append(EventKind.interaction)
            changes.append(Fired(v, EventKind.interaction, t, v.dwell(t)))

    def _expire(self, t: float) -> list[Change]:
        out: list[Change] = []
        keep: list[Visit] = []
        for v in self.open:
            if t - v.last_in_t > self.rules.exit_grace_s:
                if v.confirmed:
                    out.append(Ended(v))
            else:
                keep.append(v)
        self.open = keep
        return out

    def close_all(self) -> list[Change]:
        """End every open visit at its last frame inside (end of replay, shutdown)."""
        out: list[Change] = []
        for v in self.open:
            if v.confirmed:
                out.append(Ended(v))
        self.open = []
        return out


def _similarity(a: Any, b: Any) -> float | None:
    """Cosine similarity of two descriptors; None when either is missing."""
    if a is None or b is None:
        return None
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    if na == 0 or nb == 0:
        return None
    return float(va @ vb) / (na * nb)


def _blend(running: Any, new: Any) -> Any:
    """A visit's descriptor: an exponential moving average, kept at unit length."""
    if new is None:
        return running
    new = np.asarray(new, dtype=np.float64)
    if running is None:
        return new
    mixed = (1 - APPEARANCE_EMA) * running + APPEARANCE_EMA * new
    norm = float(np.linalg.norm(mixed))
    return mixed / norm if norm > 0 else running
