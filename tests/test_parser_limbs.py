"""Limbs to their ends (issue 19): Pascal-Person-Part's lower arm runs from the elbow through the
hand, the lower leg from the knee through the foot, and the upper/lower boundaries lie at the
elbows and knees. Synthetic skeletons on a full mask, pure NumPy (``body_model``, ``pose_geometry``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from occreid.parser import body_model, pose_geometry
from occreid.parser.pose_geometry import LOWER_ARMS, LOWER_LEGS, TORSO, UPPER_ARMS, UPPER_LEGS


def standing(vis: float = 1.0) -> np.ndarray:
    """A front view, 200 px high: arms hanging straight beside the body, legs straight."""
    lm = np.zeros((33, 3))
    lm[:, 2] = vis
    lm[:11, :2] = (50, 20)
    lm[[7, 8], :2] = [(56, 20), (44, 20)]
    lm[[11, 12, 23, 24], :2] = [(62, 40), (38, 40), (58, 100), (42, 100)]
    lm[[13, 15, 17, 19], :2] = [(72, 70), (72, 100), (72, 108), (72, 108)]  # left arm: elbow, wrist, hand
    lm[[14, 16, 18, 20], :2] = [(28, 70), (28, 100), (28, 108), (28, 108)]
    lm[25:33, :2] = [(58, 140), (42, 140), (58, 180), (42, 180), (58, 184), (42, 184), (62, 190), (38, 190)]
    return lm


def full_mask() -> np.ndarray:
    return np.ones((200, 100), np.float32)


def test_a_forearm_whose_elbow_is_hidden_is_not_drawn():
    # In side views the far arm's elbow is hidden behind the body and its wrist is placed on the
    # back: a forearm is drawn only with its upper arm.
    lm = standing()
    lm[13, 2] = 0.02
    lm[[13, 15, 17, 19], :2] = [(56, 70), (74, 92), (80, 96), (80, 98)]
    parts = pose_geometry.part_map(lm, full_mask(), arm_visibility=0.1)
    assert not np.isin(parts[:, 52:], (UPPER_ARMS, LOWER_ARMS)).any()


def test_upper_and_lower_arm_meet_at_the_elbow():
    # The upper arm's capsule is wider than the forearm's: nearest-capsule labelling lets it swell
    # past the elbow; the boundary is the plane through the elbow.
    lm = standing()
    parts = pose_geometry.part_map(lm, full_mask())
    below = parts[72:76, 60:86]  # just below the left elbow (y 70), across the arm
    assert set(np.unique(below)) <= {LOWER_ARMS, TORSO, 0}
    assert (parts[60:70, 72] == UPPER_ARMS).all() and (parts[71:100, 72] == LOWER_ARMS).all()
    old = pose_geometry.part_map(lm, full_mask(), joint_planes=False)
    assert (old[72:76, 60:86] == UPPER_ARMS).any()


def test_thigh_and_lower_leg_meet_at_the_knee():
    lm = standing()
    parts = pose_geometry.part_map(lm, full_mask())
    assert (parts[141:150, 56:70] != UPPER_LEGS).all()
    assert (parts[130:140, 58] == UPPER_LEGS).all() and (parts[141:180, 58] == LOWER_LEGS).all()
    old = pose_geometry.part_map(lm, full_mask(), joint_planes=False)
    assert (old[141:150, 56:70] == UPPER_LEGS).any()


def test_the_lower_leg_runs_through_the_foot():
    lm = standing()
    parts = pose_geometry.part_map(lm, full_mask())
    assert parts[189, 61] == LOWER_LEGS  # between the heel and the toes
    assert parts[186, 38] == LOWER_LEGS


def test_joints_bisect_the_angle_and_point_down_the_lower_bone():
    caps = body_model.body_capsules(standing())
    found = body_model.joints(caps)
    assert len(found) == 4  # two elbows, two knees
    for upper, lower, joint, normal in found:
        assert caps[upper][0] + 1 == caps[lower][0]
        np.testing.assert_allclose(joint, caps[upper][2][1])
        u1 = (caps[upper][2][1] - caps[upper][2][0]) / np.linalg.norm(caps[upper][2][1] - caps[upper][2][0])
        bisector = (u1 + (0.0, 1.0)) / np.linalg.norm(u1 + (0.0, 1.0))  # every lower bone hangs straight down
        np.testing.assert_allclose(normal, bisector, atol=1e-9)
        if caps[upper][0] == UPPER_LEGS:
            np.testing.assert_allclose(normal, (0.0, 1.0), atol=1e-9)  # a straight leg: the plane is level
    lm = standing()
    lm[13, :2] = (62, 70)  # the left upper arm straight down, the forearm held out sideways: a right angle
    lm[[15, 17, 19], :2] = [(92, 70), (98, 70), (98, 70)]
    caps = body_model.body_capsules(lm)
    (normal,) = [n for u, _, j, n in body_model.joints(caps) if np.allclose(j, (62, 70))]
    np.testing.assert_allclose(normal, np.array([1.0, 1.0]) / np.sqrt(2), atol=1e-9)


def test_a_folded_limb_takes_the_lower_bones_direction():
    lm = standing()
    lm[13, :2] = (62, 70)
    lm[[15, 17, 19], :2] = [(62, 45), (62, 40), (62, 40)]  # the forearm folded back up the upper arm
    caps = body_model.body_capsules(lm)
    (normal,) = [n for u, _, j, n in body_model.joints(caps) if np.allclose(j, (62, 70))]
    np.testing.assert_allclose(normal, (0.0, -1.0), atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(
    elbow=st.tuples(st.floats(64, 90), st.floats(50, 80)),
    wrist=st.tuples(st.floats(55, 98), st.floats(40, 130)),
)
def test_no_upper_arm_pixel_lies_beyond_the_elbow(elbow, wrist):
    lm = standing()
    lm[[14, 16, 18, 20], 2] = 0.0  # the right arm unseen: only the left arm's pixels are arm
    lm[13, :2] = elbow
    lm[[15, 17, 19], :2] = [wrist, wrist, wrist]
    caps = body_model.body_capsules(lm)
    planes = [(j, n) for u, _, j, n in body_model.joints(caps) if caps[u][0] == UPPER_ARMS]
    if not planes:  # a zero-length forearm has no plane
        return
    (joint, normal), = planes
    parts = pose_geometry.part_map(lm, full_mask())
    ys, xs = np.nonzero(parts == UPPER_ARMS)
    side = (xs + 0.5 - joint[0]) * normal[0] + (ys + 0.5 - joint[1]) * normal[1]
    assert (side <= 1e-3).all()


def test_the_map_is_deterministic():
    lm = standing()
    lm[[15, 17, 19], :2] = [(92, 80), (98, 82), (98, 82)]
    a = pose_geometry.part_map(lm, full_mask())
    b = pose_geometry.part_map(lm.copy(), full_mask().copy())
    assert a.tobytes() == b.tobytes()
