"""Visit and dwell logic with synthetic observations (no model): rules and invariants."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from edge.visits import Ended, Fired, LocationVisits, Observation, Rules
from exteros.contract import EventKind

DT = 1 / 7.5  # a 15 fps camera processed at every 2nd frame


def left_half(x: float, y: float) -> bool:
    return 0 <= x <= 500


def shelf(x: float, y: float, tol: float = 0.0) -> bool:
    return 100 - tol <= x <= 200 + tol and 100 - tol <= y <= 200 + tol


def obs(tid: int, x: float, y: float = 400, wrists=(), tol: float = 0.0) -> Observation:
    return Observation(tid, (x, y), 300.0, 0.9, tuple(wrists), hand_tol=tol)


def run(lv: LocationVisits, frames):
    """frames: list of (t, [observations]); returns all changes plus the end-of-stream close."""
    out = []
    for t, o in frames:
        out += lv.update(t, o)
    return out + lv.close_all()


def kinds_of(changes):
    return sorted(c.kind.value for c in changes if isinstance(c, Fired))


def times(start: float, stop: float):
    n = round((stop - start) / DT)
    return [start + i * DT for i in range(n + 1)]


def test_pass_by_gives_impression_only():
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [obs(1, 50 + 200 * t)]) for t in times(0, 2.0)]  # inside ~2 s, then out
    ch = run(lv, frames)
    assert kinds_of(ch) == ["impression"]
    ended = [c for c in ch if isinstance(c, Ended)]
    assert len(ended) == 1


def test_noise_shorter_than_confirm_is_not_counted():
    lv = LocationVisits(Rules(), left_half)
    ch = run(lv, [(0.0, [obs(1, 100)]), (DT, [obs(1, 100)]), (2 * DT, [])])
    assert ch == []


def test_thresholds_fire_once_at_the_crossing_moment():
    lv = LocationVisits(Rules(), left_half)
    ch = run(lv, [(t, [obs(1, 100)]) for t in times(1.0, 13.0)])
    fired = [c for c in ch if isinstance(c, Fired)]
    assert [c.kind for c in fired] == [EventKind.impression, EventKind.discovery,
                                       EventKind.engagement]  # fmt: skip
    assert [round(c.at - 1.0, 6) for c in fired] == [0.5, 3.0, 10.0]
    assert [c.dwell_s for c in fired] == [0.5, 3.0, 10.0]
    (end,) = [c for c in ch if isinstance(c, Ended)]
    assert abs(end.visit.dwell() - 12.0) < 1e-6


def test_occlusion_within_grace_keeps_one_visit_even_with_a_new_track_id():
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [obs(1, 100 + 10 * t)]) for t in times(0, 2.0)]
    frames += [(t, []) for t in times(2.0 + DT, 3.2)]  # hidden 1.2 s
    frames += [(t, [obs(7, 100 + 10 * t)]) for t in times(3.2 + DT, 5.0)]  # new id nearby
    ch = run(lv, frames)
    assert kinds_of(ch) == ["discovery", "impression"]
    assert len([c for c in ch if isinstance(c, Ended)]) == 1


def test_absence_longer_than_grace_ends_the_visit_and_a_return_is_a_new_visit():
    lv = LocationVisits(Rules(), left_half)
    first = times(0, 1.5)
    frames = [(t, [obs(1, 100)]) for t in first]
    frames += [(t, []) for t in times(1.5 + DT, 4.5)]  # gone 3 s > 2 s grace
    frames += [(t, [obs(1, 100)]) for t in times(4.5 + DT, 6.0)]
    ch = run(lv, frames)
    ended = [c for c in ch if isinstance(c, Ended)]
    assert len(ended) == 2
    assert ended[0].visit.last_in_t == first[-1]  # ends at the last frame seen inside


def test_far_new_track_is_not_taken_for_a_lost_visit():
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [obs(1, 50)]) for t in times(0, 1.0)]
    frames += [(t, [obs(2, 480)]) for t in times(1.0 + DT, 2.0)]  # someone else, far away
    ch = run(lv, frames)
    assert len([c for c in ch if isinstance(c, Ended)]) == 2


RED = (1.0, 0.0, 0.0)
BLUE = (0.0, 0.0, 1.0)
REDDISH = (0.9, 0.3, 0.1)


def dressed(tid: int, x: float, colour, y: float = 400) -> Observation:
    return Observation(tid, (x, y), 300.0, 0.9, (), colour)


def test_occluded_person_keeps_the_visit_when_the_colours_match():
    """Hidden behind a pillar for 1.5 s: a new track id of the same colours continues."""
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [dressed(1, 100, RED)]) for t in times(0, 2.0)]
    frames += [(t, []) for t in times(2.0 + DT, 3.5)]
    frames += [(t, [dressed(7, 180, REDDISH)]) for t in times(3.5 + DT, 5.0)]
    ch = run(lv, frames)
    ended = [c for c in ch if isinstance(c, Ended)]
    assert len(ended) == 1
    assert ended[0].visit.dwell() > 4.9


def test_someone_else_near_a_lost_visit_does_not_take_it_over():
    """Person A (red) leaves behind a shelf; person B (blue) appears where A vanished:
    two visits, not one merged visit."""
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [dressed(1, 100, RED)]) for t in times(0, 2.0)]
    frames += [(t, [dressed(2, 110, BLUE)]) for t in times(2.0 + DT, 4.0)]
    ch = run(lv, frames)
    ended = [c for c in ch if isinstance(c, Ended)]
    assert len(ended) == 2
    assert {e.visit.first_track_id for e in ended} == {1, 2}


def test_colour_decides_between_two_lost_visits():
    """Two people hidden at once reappear with new ids, the nearer one in the other's
    colours: each visit goes to the person who looks like it."""
    lv = LocationVisits(Rules(), left_half)
    frames = [(t, [dressed(1, 100, RED), dressed(2, 160, BLUE)]) for t in times(0, 1.0)]
    frames += [(t, []) for t in times(1.0 + DT, 1.5)]
    frames += [(t, [dressed(3, 150, RED), dressed(4, 110, BLUE)]) for t in times(1.5 + DT, 2.5)]
    ch = run(lv, frames)
    ended = {e.visit.first_track_id: e.visit.track_id for e in ch if isinstance(e, Ended)}
    assert ended == {1: 3, 2: 4}


def test_interaction_needs_a_wrist_in_a_product_area_long_enough():
    lv = LocationVisits(Rules(), left_half, [shelf])
    touch = [(150.0, 150.0)]
    frames = [(t, [obs(1, 100)]) for t in times(0, 1.0)]
    frames += [(t, [obs(1, 100, wrists=touch)]) for t in times(1.0 + DT, 1.7)]  # 0.6 s touch
    frames += [(t, [obs(1, 100)]) for t in times(1.7 + DT, 2.5)]
    assert "interaction" in kinds_of(run(lv, frames))

    lv = LocationVisits(Rules(), left_half, [shelf])
    frames = [(t, [obs(1, 100)]) for t in times(0, 1.0)]
    frames += [(t, [obs(1, 100, wrists=touch)]) for t in times(1.0 + DT, 1.2)]  # brush, 0.2 s
    frames += [(t, [obs(1, 100)]) for t in times(1.2 + DT, 2.5)]
    assert "interaction" not in kinds_of(run(lv, frames))


def test_brief_still_touch_fires_a_walkers_hand_does_not():
    """8 processed frames/s: a 0.4 s touch (a hand placing something down) is seen in 3-4
    frames and fires at interaction_s 0.2 whatever its phase against the frame clock; the
    same hand on a person walking past at 0.8 heights/s (240 px/s at 300 px) does not."""
    dt = 1 / 8
    touch = [(150.0, 150.0)]
    for start in (1.0, 1.0 + dt / 3, 1.0 + 2 * dt / 3):
        lv = LocationVisits(Rules(), left_half, [shelf])
        frames = [(i * dt, [obs(1, 100, wrists=touch if start <= i * dt <= start + 0.4 else ())])
                  for i in range(24)]  # fmt: skip
        assert "interaction" in kinds_of(run(lv, frames)), start
    lv = LocationVisits(Rules(), left_half, [shelf])
    frames = [(i * dt, [obs(1, 20 + 240 * i * dt, wrists=touch)]) for i in range(16)]
    assert "interaction" not in kinds_of(run(lv, frames))


def test_hand_tolerance_reaches_the_product_area():
    near = [(203.0, 150.0)]  # 3 px right of the shelf
    lv = LocationVisits(Rules(), left_half, [shelf])
    assert "interaction" in kinds_of(run(lv, [(t, [obs(1, 100, wrists=near, tol=5.0)])
                                                  for t in times(0, 1.5)]))  # fmt: skip
    lv = LocationVisits(Rules(), left_half, [shelf])
    assert "interaction" not in kinds_of(run(lv, [(t, [obs(1, 100, wrists=near, tol=2.0)])
                                                      for t in times(0, 1.5)]))  # fmt: skip


def test_interaction_before_confirmation_waits_for_the_impression():
    lv = LocationVisits(Rules(confirm_s=1.0, discovery_s=3.0), left_half, [shelf])
    frames = [(t, [obs(1, 100, wrists=[(150.0, 150.0)])]) for t in times(0, 1.5)]
    ch = run(lv, frames)
    fired = [c.kind for c in ch if isinstance(c, Fired)]
    assert fired == [EventKind.impression, EventKind.interaction]


def test_reconfigure_keeps_open_visits():
    lv = LocationVisits(Rules(), left_half)
    for t in times(0, 1.0):
        lv.update(t, [obs(1, 100)])
    lv.reconfigure(Rules(discovery_s=1.5), lambda x, y: x <= 300, [])
    ch = []
    for t in times(1.0 + DT, 2.0):
        ch += lv.update(t, [obs(1, 100)])
    assert [c.kind for c in ch if isinstance(c, Fired)] == [EventKind.discovery]
    assert len(lv.open) == 1


class VisitMachine(RuleBasedStateMachine):
    """Random people wandering in and out, vanishing and switching ids."""

    def __init__(self) -> None:
        super().__init__()
        self.lv = LocationVisits(Rules(), left_half, [shelf])
        self.t = 0.0
        self.people: dict[int, float] = {}  # track id -> x
        self.next_id = 1
        self.changes = []
        self.closed = False

    @rule(x=st.floats(0, 1000))
    def someone_appears(self, x):
        self.people[self.next_id] = x
        self.next_id += 1

    @precondition(lambda self: self.people)
    @rule(data=st.data())
    def someone_leaves_or_switches_id(self, data):
        tid = data.draw(st.sampled_from(sorted(self.people)))
        x = self.people.pop(tid)
        if data.draw(st.booleans()):  # tracker id switch: same person, new id
            self.people[self.next_id] = x
            self.next_id += 1

    @rule(steps=st.integers(1, 40), dx=st.floats(-40, 40), touch=st.booleans())
    def time_passes(self, steps, dx, touch):
        for _ in range(steps):
            self.t += DT
            for tid in self.people:
                self.people[tid] = min(1000.0, max(0.0, self.people[tid] + dx))
            wrists = [(150.0, 150.0)] if touch else []
            o = [obs(tid, x, wrists=wrists) for tid, x in self.people.items()]
            self.changes += self.lv.update(self.t, o)

    def teardown(self):
        # end of the stream: every open visit is closed and summarised exactly once
        self.changes += self.lv.close_all()
        self.closed = True
        self.dwell_never_negative_and_kinds_once()
        self.every_confirmed_visit_ends_exactly_once_after_close()

    @invariant()
    def dwell_never_negative_and_kinds_once(self):
        per_visit: dict[int, list] = {}
        for c in self.changes:
            per_visit.setdefault(id(c.visit), []).append(c)
            if isinstance(c, Fired):
                assert c.dwell_s >= 0
                assert c.at >= c.visit.start_t
        for cs in per_visit.values():
            kinds = [c.kind for c in cs if isinstance(c, Fired)]
            assert len(kinds) == len(set(kinds)), "a kind fired twice in one visit"
            if kinds:
                assert kinds[0] == EventKind.impression, "funnel: impression comes first"
            if EventKind.engagement in kinds:
                assert EventKind.discovery in kinds
            ends = [c for c in cs if isinstance(c, Ended)]
            assert len(ends) <= 1, "a visit ended twice"
            if ends:
                assert ends[0].visit.dwell() >= 0

    @invariant()
    def every_confirmed_visit_ends_exactly_once_after_close(self):
        if not self.closed:
            return
        assert not self.lv.open
        confirmed = {id(c.visit) for c in self.changes
                     if isinstance(c, Fired) and c.kind is EventKind.impression}  # fmt: skip
        ended = [id(c.visit) for c in self.changes if isinstance(c, Ended)]
        assert sorted(ended) == sorted(confirmed)


TestVisitMachine = VisitMachine.TestCase
TestVisitMachine.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
