"""The scenario library: who does what in each test video.

Layout of the shop (1280x720): the back wall meets the floor at row 290, the
denim table stands on the floor in the middle-left (front edge row 540), the
shop window is on the right of the back wall. Walking speeds are 1.0-1.2 m/s,
converted to pixels with the depth scale of the scene. Every scenario starts
and ends with about 2 s in which nobody is inside a zone.

Design rules that keep the truth fair (checked by ``truth.margin_warnings``):
a visit lasts at least 1.5 s and no dwell is within 0.5 s of the discovery
(3 s) or engagement (10 s) thresholds; gaps outside a zone are either under
1.5 s (same visit) or over 3 s (a new visit); nobody stands within 30 px of a
zone edge; people who do not reach keep their wrists out of the product area (it
is configured only where somebody reaches, because a hand passing in front of
the table projects onto it in the image).
"""

from __future__ import annotations

from dataclasses import replace

from edge.scenarios.render import REACH_ANGLE, _look
from edge.scenarios.scene import (
    TABLE_FRONT_Y,
    TABLE_TOP_BACK_Y,
    TABLE_TOP_FRONT_Y,
    TABLE_X1,
    Layout,
    person_height,
)
from edge.scenarios.spec import Actor, Burst, PathBuilder, ScenarioSpec, Zone

STORE = "madison-ave-store"
TABLE = f"{STORE}.denim-table"
WINDOW = f"{STORE}.window"

# Floor in front of and beside the denim table (the table's front edge is row 540).
TABLE_ZONE = ((200.0, 505.0), (760.0, 505.0), (820.0, 700.0), (150.0, 700.0))
# The right end of the table top with its tall pile of jeans, and the air just above it.
TABLE_PRODUCTS = (
    (TABLE_X1 - 100.0, TABLE_TOP_BACK_Y - 50.0),
    (TABLE_X1 + 5.0, TABLE_TOP_BACK_Y - 50.0),
    (TABLE_X1 + 5.0, TABLE_TOP_FRONT_Y),
    (TABLE_X1 - 100.0, TABLE_TOP_FRONT_Y),
)
# Floor in front of the shop window, up to the back wall.
WINDOW_ZONE = ((860.0, 305.0), (1255.0, 305.0), (1270.0, 560.0), (845.0, 560.0))

LEFT_OUT, RIGHT_OUT = -140.0, 1420.0  # x where a person is fully outside the frame


def wrist_offset(
    sprite: str, wrist: int, feet_y: float, flip: bool = False, arm: int = 0
) -> tuple[float, float]:
    """(dx, dy) from the feet point to a wrist keypoint of an upright sprite at row feet_y."""
    look = _look(sprite, flip, None, arm)
    h = look.rgba.shape[0]
    s = person_height(feet_y) / h
    kx, ky = look.keypoints[wrist]
    return (kx - look.anchor_x) * s, (ky - (h - 1)) * s


def table_zone(products: bool = False) -> Zone:
    return Zone(TABLE, TABLE_ZONE, (TABLE_PRODUCTS,) if products else ())


def _passby() -> ScenarioSpec:
    p = PathBuilder(2.0, LEFT_OUT, 675).walk(RIGHT_OUT, 665, mps=1.2)
    return ScenarioSpec(
        "passby",
        "One person walks through the denim-table zone without stopping: an impression only.",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "black", p.build()),),
        zones=(table_zone(),),
        bursts=(Burst(4.0, 4.4, sigma=7.0),),
    )


def _stop(seconds: float, name: str, what: str) -> ScenarioSpec:
    p = (
        PathBuilder(2.0, LEFT_OUT, 600)
        .walk(330, 600, mps=1.1)
        .stand(seconds)
        .walk(RIGHT_OUT, 612, mps=1.1)
    )
    return ScenarioSpec(
        name,
        what,
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "coat", p.build()),),
        zones=(table_zone(),),
        bursts=(Burst(3.0, 3.3, jpeg_q=12), Burst(6.0, 6.3, sigma=6.0)),
        stall_at=2.0 + 2.5,
    )


def _reach() -> ScenarioSpec:
    y = TABLE_FRONT_Y + 8.0  # beside the table's right end, on the same depth
    dx, _ = wrist_offset("black", 10, y, arm=int(REACH_ANGLE))
    x = TABLE_X1 - 50.0 - dx  # at full reach the hand is on the tall pile of jeans
    p = PathBuilder(1.5, RIGHT_OUT, y).walk(x, y, mps=1.0).stand(2.0)
    t_reach = p.t
    p.stand(3.0).stand(1.5).walk(RIGHT_OUT, y + 8, mps=1.0)
    return ScenarioSpec(
        "reach",
        "A person walks up beside the table end, stands, reaches out onto the pile of jeans "
        "for ~2.5 s, stands again and leaves: impression, discovery and interaction.",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "black", p.build(), sway=0.5, reaches=((t_reach, t_reach + 3.0),)),),
        zones=(table_zone(products=True),),
        stall_at=t_reach + 0.7,  # the arm is out and still from t_reach + 0.4 to + 2.6
    )


def _two_zones() -> ScenarioSpec:
    a = (
        PathBuilder(1.5, LEFT_OUT, 610)
        .walk(330, 610, mps=1.1)
        .stand(4.0)
        .walk(900, 500, mps=1.1)
        .walk(1030, 430, mps=1.0)
        .stand(11.0)
        .walk(RIGHT_OUT, 440, mps=1.1)
    )
    b = (
        PathBuilder(3.0, RIGHT_OUT, 380)
        .walk(1120, 380, mps=1.0)
        .stand(5.0)
        .walk(RIGHT_OUT, 372, mps=1.0)
    )
    return ScenarioSpec(
        "two_zones",
        "Two locations in one view. p1 stops 4 s at the denim table, then 11 s at the shop "
        "window; p2 stops 5 s at the window while p1 is at the table.",
        duration_s=round(a.t + 2.0, 1),
        actors=(
            Actor("p1", "coat", a.build()),
            Actor("p2", "black", b.build(), flip=True, recolor="green"),
        ),
        zones=(table_zone(), Zone(WINDOW, WINDOW_ZONE)),
    )


def _table_window() -> ScenarioSpec:
    # One person: the table, then the window; the walk between the zones is outside both
    # for ~0.5 s (< exit grace), so the store sees one visit of ~14.5 s.
    p = (
        PathBuilder(1.5, LEFT_OUT, 610)
        .walk(330, 610, mps=1.1)
        .stand(4.0)
        .walk(900, 500, mps=1.1)
        .walk(1030, 430, mps=1.0)
        .stand(5.0)
        .walk(RIGHT_OUT, 440, mps=1.1)
    )
    return ScenarioSpec(
        "table_window",
        "One person stops 4 s at the denim table, walks to the shop window and stops 5 s "
        "there: a visit to each zone and ONE store visit (impression, discovery, engagement).",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "coat", p.build()),),
        zones=(table_zone(), Zone(WINDOW, WINDOW_ZONE)),
    )


def _crossing() -> ScenarioSpec:
    # p2 reaches x=470 at ~6.3 s walking left; p1 starts so that he is there at the same time.
    b = (
        PathBuilder(2.0, RIGHT_OUT, 600)
        .walk(330, 604, mps=1.0)
        .stand(4.0)
        .walk(LEFT_OUT, 604, mps=1.1)
    )
    a = PathBuilder(4.0, LEFT_OUT, 640).walk(RIGHT_OUT, 650, mps=1.1)
    return _finish(
        ScenarioSpec(
            "crossing",
            "p1 walks left to right, p2 right to left a little further back; they cross in "
            "the middle of the zone. p2 then stands 4 s and leaves to the left.",
            duration_s=0.0,
            actors=(Actor("p1", "black", a.build()), Actor("p2", "coat", b.build())),
            zones=(table_zone(),),
        )
    )


def _finish(spec: ScenarioSpec, tail: float = 2.0) -> ScenarioSpec:
    end = max(a.keys[-1][0] for a in spec.actors)
    return replace(spec, duration_s=round(end + tail, 1))


def _occluded() -> ScenarioSpec:
    y = 560.0
    p = (
        PathBuilder(1.5, LEFT_OUT, y)
        .walk(300, y, mps=1.0)
        .stand(2.5)
        .walk(330, y, mps=0.7)
        .walk(700, y, mps=0.7)
        .stand(1.5)
        .walk(RIGHT_OUT, y + 10, mps=1.1)
    )
    return ScenarioSpec(
        "occluded",
        "A person stands in the zone, strolls behind a tall display shelf close to the "
        "camera (fully hidden for about 1 s) and stands again on the other side: one visit.",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "black", p.build()),),
        zones=(table_zone(),),
        layout=Layout(pillar=True),
    )


def _group() -> ScenarioSpec:
    # Three people walk in single file, the first going furthest, stand side by side, then
    # leave in single file to the right (first in, first out: nobody walks through another).
    def member(start: float, x: float, y: float, leave: float) -> PathBuilder:
        p = PathBuilder(start, LEFT_OUT, y).walk(x, y, mps=1.0)
        return p.stand(leave - p.t).walk(RIGHT_OUT, y + 10, mps=1.0)

    c = member(1.5, 590, 600, leave=10.0)
    b = member(2.5, 430, 610, leave=10.8)
    a = member(3.5, 260, 590, leave=11.6)
    # A fourth person walks past in front of them, close to the camera.
    d = PathBuilder(5.0, RIGHT_OUT, 680).walk(LEFT_OUT, 680, mps=1.2)
    return _finish(
        ScenarioSpec(
            "group",
            "Three people walk in one behind another and stand side by side in the zone, a "
            "fourth walks past in front of them close to the camera; the three leave in file.",
            duration_s=0.0,
            actors=(
                Actor("p1", "coat", a.build()),
                Actor("p2", "black", b.build()),
                Actor("p3", "coat", c.build(), flip=True, recolor="grey"),
                Actor("p4", "black", d.build(), flip=True, recolor="green"),
            ),
            zones=(table_zone(),),
        )
    )


def _leave_return() -> ScenarioSpec:
    p = (
        PathBuilder(1.5, LEFT_OUT, 600)
        .walk(330, 600, mps=1.1)
        .stand(4.0)
        .walk(LEFT_OUT, 600, mps=1.1)
        .stand(5.0)  # out of view, left of the frame
        .walk(380, 620, mps=1.1)
        .stand(6.0)
        .walk(LEFT_OUT, 620, mps=1.1)
    )
    return ScenarioSpec(
        "leave_return",
        "A person stops 4 s, leaves the frame for 5 s and comes back for 6 s: two visits.",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "coat", p.build()),),
        zones=(table_zone(),),
    )


def _long_empty() -> ScenarioSpec:
    p = PathBuilder(60.0, LEFT_OUT, 650).walk(RIGHT_OUT, 640, mps=1.25)
    return ScenarioSpec(
        "long_empty",
        "60 s of an empty shop (mild sensor noise, one noise burst), then one person walks "
        "through the zone: for motion skipping; one impression.",
        duration_s=round(p.t + 3.0, 1),
        actors=(Actor("p1", "black", p.build()),),
        zones=(table_zone(),),
        bursts=(Burst(30.0, 30.3, sigma=6.0),),
    )


def _small_sway() -> ScenarioSpec:
    y = 345.0
    p = (
        PathBuilder(1.5, RIGHT_OUT, y)
        .walk(1060, y, mps=1.1)
        .stand(5.0)
        .walk(RIGHT_OUT, y + 5, mps=1.1)
    )
    return ScenarioSpec(
        "small_sway",
        "A small person (~180 px) far from the camera walks to the shop window and stands "
        "5 s swaying: impression and discovery at the window.",
        duration_s=round(p.t + 2.0, 1),
        actors=(Actor("p1", "black", p.build(), flip=True, sway=2.5),),
        zones=(Zone(WINDOW, WINDOW_ZONE),),
    )


# Every scenario's camera also counts the store (config ``store: madison-ave-store``): the
# union of its zones, with its own counts in the truth.
SCENARIOS: dict[str, ScenarioSpec] = {
    s.name: replace(s, store=STORE)
    for s in (
        _passby(),
        _stop(4.0, "stop4", "One person stops 4 s in the zone: impression and discovery."),
        _stop(
            12.0, "stop12", "One person stops 12 s in the zone: impression, discovery, engagement."
        ),
        _reach(),
        _two_zones(),
        _table_window(),
        _crossing(),
        _occluded(),
        _group(),
        _leave_return(),
        _long_empty(),
        _small_sway(),
    )
}
