"""critic:detector against the approval sets labelled by eye: fails if it approves more wrong images
or fewer right ones than it does today. The fresh set (approval_holdout14, 266 candidates, labelled by three
helpers who had seen no verdict on it, 229 kept where no two disagree and two at least gave a label) is the
reported figure: scored blind once at 82e5e0d (3 of 74 wrong approved, 149 of 155 right). approval_holdout13 was
scored blind at e15b0f4 (5 of 78, 155 of 159), then read. approval_holdout12 was scored blind at f645f39 (4 of 79, 149 of
155), then read. approval_holdout10 and 11 were scored blind at db93fa0
(13 of 99, 157 of 161) and 7be6301 (13 of 87, 158 of 168), then read (the edge-touch check). approval_holdout9 was scored blind at a91594f (6 of 75,
172 of 182), then read and tuned on (3 of 75 since).
approval_holdout8 was scored blind at 8a21887 (11 of 70, 163 of 182), then its misses read and checks set with them
(4 of 70, 167 of 182 since). approval_holdout7 was scored blind a session earlier (2 of 68, 172 of 176), then its
two misses read (the edge and knob checks). approval_holdout6 was scored blind at a834bac (1 of 80 wrong approved,
153 of 171 right). approval_holdout5 was scored blind a session
earlier (5 of 88, 152 of 169), then its misses read (the circle's lump and texture checks set with it: 2 of 88
since). approval_holdout4 was scored blind before it (3 of 70, 152 of 168), then its misses read (the
skewed-triangle check set with it). approval_holdout3 was scored blind a session earlier (13 of 82, 154 of 164),
then its misses were read and the dent, hole and harmonic checks set with it: its figure is a tuned one. approval_holdout2 and approval_holdout were each scored once a session
earlier and their misses read since; the development set (approval_set) is the one the thresholds were
set on.
The targets (at most 1% of wrong approved, at least 90% of right) are not met yet: see BENCHMARKS.md."""
from __future__ import annotations

import pytest

from agent.surfaces import approval_set

# set: (most wrong images approved, fewest right images approved), as measured when this was written
# (the hole-speck check traded 3 right images of approval_holdout, a purple dot or tint in a ring's hole that
# its labeller let pass and approval_holdout2's called wrong, for 8 wrong ones over the three sets)
# (the square and circle harmonics and the square dent set on all four: +10 wrong caught, 2 right lost)
# (the circle's lump and texture checks, set after approval_holdout5 was scored and read: +3 wrong caught
# there, +2 on approval_holdout3, +1 on approval_set, no right one lost on any of the seven labelled sets)
# (a shape the canvas edge cuts or presses against, and a knob on a circle: approval_holdout7's two wrong ones,
# approval_holdout2's clipped yellow circle and approval_holdout4's cut triangle caught, no right one lost)
# (a faint patch a few levels off the canvas, a flat box with a seam along it: approval_holdout6/164 caught, no
# right one lost on the seven older sets)
# (a square's solidity 0.935, was 0.94: +2 right on approval_set, +3 on approval_holdout3, +2 on approval_holdout5,
# no wrong one more on any set)
# (a streak inside a triangle, uneven star points, a rounded square or a ring-like centre read as a circle, and
# a circle's texture floor 7.0, was 6.5, all set after approval_holdout8 was scored blind at 8a21887 (11 of 70
# wrong approved, 163 of 182 right) and read: there 4 and 166 since; approval_set 4 -> 3 wrong; no right one
# lost on any of the nine sets)
# (a relation between two alike objects, "a red star left of a red star", holds whichever is read first: +1 right
# on approval_holdout8, holdout6, holdout3, +2 on holdout4, no wrong one more)
# (approval_holdout9, the fresh set: scored blind at a91594f (6 of 75 wrong approved, 171 of 182 right) and at
# 12472d9 after the holdout8 checks (6 of 75, 172 of 182), nothing tuned on it)
# (then read, its reported blind figure 6 of 75: a triangle standing on the edge (its base's last row at least
# 0.65 its colour), and a triangle or ring flush with the edge held to 0.62 / 0.85 of its kind's outline limits:
# its 000, 178, 180 caught, 3 of 75 since, no right one lost on any of the ten sets)
# (two shapes a few pixels apart joined through pixels 24 levels off the background touch: approval_holdout's
# two touching purple circles caught (25 -> 24 wrong), no right one lost on any of the ten sets)
# (approval_holdout10, the fresh set: two blind helper labellers, 260 agreed; scored blind at db93fa0: 13 of 99
# wrong approved, 157 of 161 right; then read: a circle's knob limit 0.075 (was 0.09) catches its 080 and 171,
# 11 of 99 since, no right one lost on any of the eleven sets)
# (approval_holdout11, scored blind at 7be6301: 13 of 87 wrong approved, 158 of 168 right; then read with
# holdout10: 15 of their 24 misses are shapes pressed against the canvas edge, their soft rim on the outermost
# row. A shape whose rim reaches that row with 0.1 of its colour is refused: holdout10 11 -> 5 wrong, holdout11
# 13 -> 6, one right lost there; the older sets' labellers let such shapes pass (54 of their approved right
# images touch the edge so: the world draws none), 21 wrong fewer over all twelve)
# (approval_holdout12, the fresh set: two blind helper labellers, 234 agreed; scored blind at f645f39, after the
# edge-touch check: 4 of 79 wrong approved, 149 of 155 right; the critic before it, a10fd6e: 8 of 79, 149 of 155)
# (the square dent limit 0.055, was 0.064, set on the bench's pinched squares that its judge rejects: 6 wrong
# fewer over the thirteen sets (holdout12 4 -> 2), 40 right lost, 9 of them on approval_holdout3)
# (approval_holdout13, the fresh set: two blind helper labellers, 237 agreed, the rules naming a visibly pinched
# square; scored blind after the dent change: 5 of 78 wrong approved, 155 of 159 right; the critic before it
# 5 of 78, 156 of 159; three of the five are halos round a shape)
# (approval_holdout14, the fresh set: three blind helper labellers, 229 agreed; scored blind at 82e5e0d: 3 of 74
# wrong approved (two pinched white squares, a circle pressed against the edge), 149 of 155 right)
GUARDS = {approval_set.FRESH_SET: (3, 149), approval_set.THIRTEENTH_SET: (5, 155), approval_set.TWELFTH_SET: (2, 143), approval_set.ELEVENTH_SET: (6, 155),
          approval_set.TENTH_SET: (4, 156), approval_set.PREV_SET: (3, 167), approval_set.EIGHTH_SET: (3, 158),
          approval_set.SEVENTH_SET: (0, 163), approval_set.SIXTH_SET: (0, 145), approval_set.LAST_SET: (2, 142),
          approval_set.READ_SET: (0, 147), approval_set.TUNED_SET: (4, 142), approval_set.SCORED_SET: (31, 118),
          approval_set.HOLDOUT_SET: (17, 95), approval_set.DEFAULT_SET: (3, 117)}


@pytest.mark.parametrize("name", [approval_set.FRESH_SET,
                                  # the older sets in CI's optional pass: the default run stays under 5 minutes
                                  *(pytest.param(name, marks=pytest.mark.slow) for name in (
                                      approval_set.THIRTEENTH_SET, approval_set.TWELFTH_SET, approval_set.ELEVENTH_SET, approval_set.TENTH_SET, approval_set.PREV_SET, approval_set.EIGHTH_SET, approval_set.SEVENTH_SET,
                                      approval_set.SIXTH_SET,
                                      approval_set.LAST_SET, approval_set.READ_SET, approval_set.TUNED_SET,
                                      approval_set.SCORED_SET, approval_set.HOLDOUT_SET, approval_set.DEFAULT_SET))])
def test_the_detector_holds_its_ground_on_images_labelled_by_eye(name):
    rows = approval_set.score("critic:detector", name=name)["rows"]
    wrong = [r for r in rows if not r["right"] and r["approved"]]
    right = [r for r in rows if r["right"] and r["approved"]]
    most_wrong, fewest_right = GUARDS[name]
    listing = "\n".join(f"{r['file']} {r['brief']!r}: {r['note']}" for r in wrong)
    assert len(wrong) <= most_wrong, f"{len(wrong)} wrong images approved:\n{listing}"
    assert len(right) >= fewest_right, f"only {len(right)} right images approved"
