"""Partial bodies (issue 19): on head-and-shoulders and upper-body crops MediaPipe still returns a
whole skeleton, its legs extrapolated outside the picture, called hidden, or folded up into the
torso's pixels; no leg is drawn for them, while a full body keeps its legs. Synthetic landmarks,
pure NumPy (``body_model``, ``pose_geometry``)."""

from __future__ import annotations

import numpy as np

from occreid.parser import body_model, pose_geometry
from occreid.parser.pose_geometry import LOWER_LEGS, UPPER_LEGS
from tests.test_parser_limbs import standing

LEGS = (UPPER_LEGS, LOWER_LEGS)


def leg_labels(lm: np.ndarray, mask: np.ndarray) -> int:
    return int(np.isin(pose_geometry.part_map(lm, mask), LEGS).sum())


def test_a_full_body_keeps_both_leg_parts():
    parts = pose_geometry.part_map(standing(), np.ones((200, 100), np.float32))
    assert (parts == UPPER_LEGS).sum() > 300 and (parts == LOWER_LEGS).sum() > 300


def test_legs_below_the_image_are_not_drawn():
    # An upper-body crop: the picture ends at the waist (120 px), the model places knees and
    # ankles below it and calls them hidden; the mask (the torso's clothes) runs to the bottom edge.
    lm = standing()
    lm[25:33, 2] = 0.05
    mask = np.ones((120, 100), np.float32)
    assert leg_labels(lm, mask) == 0


def test_hidden_legs_whose_far_end_is_outside_are_not_rescued_by_the_mask():
    # The thigh lies mostly in the picture and on the mask, but its knee is outside: the mask
    # there is not evidence of a leg the model cannot see.
    lm = standing()
    lm[25:33, 2] = 0.05
    mask = np.ones((138, 100), np.float32)
    assert leg_labels(lm, mask) == 0
    lm[25:33, 2] = 0.9  # seen by the model: drawn as far as the picture goes
    assert leg_labels(lm, mask) > 0


def legs_mask() -> np.ndarray:
    """A standing person's mask: the body down to the hips, then two legs to the bottom edge."""
    mask = np.zeros((200, 100), np.float32)
    mask[:105, 30:70] = 1.0
    mask[100:, 36:48] = mask[100:, 52:64] = 1.0
    return mask


def test_hidden_legs_on_the_mask_are_still_rescued():
    # Small pedestrians: the model calls plainly visible legs hidden; the mask rescues them, feet
    # standing on the bottom edge included.
    lm = standing()
    lm[25:33, 2] = 0.1
    assert leg_labels(lm, legs_mask()) > 0


def test_hidden_legs_on_a_torso_cut_off_by_the_bottom_edge_are_not_rescued():
    # An upper-body crop: the model squeezes hidden legs into the picture, onto the torso's
    # clothes, which cross the bottom edge far wider than two feet.
    lm = standing()
    lm[25:33, 2] = 0.1
    mask = np.zeros((200, 100), np.float32)
    mask[:, 25:75] = 1.0
    assert leg_labels(lm, mask) == 0
    assert int(np.isin(pose_geometry.part_map(lm, mask, cut_width=None), LEGS).sum()) > 0


def test_thighs_folded_up_into_the_torso_are_not_drawn():
    # A head-and-shoulders crop: the extrapolated knees land above the hips, in the chest.
    lm = standing()
    lm[[25, 26], :2] = [(70, 60), (30, 60)]
    lm[[27, 28, 29, 30, 31, 32], :2] = [(60, 110), (40, 110), (60, 112), (40, 112), (62, 116), (38, 116)]
    mask = np.ones((200, 100), np.float32)
    assert leg_labels(lm, mask) == 0
    assert leg_labels_allowed(lm, mask) > 0  # the check can be switched off


def leg_labels_allowed(lm: np.ndarray, mask: np.ndarray) -> int:
    return int(np.isin(pose_geometry.part_map(lm, mask, max_knee_rise=None), LEGS).sum())


def test_a_raised_knee_of_a_walking_pedestrian_keeps_its_leg():
    lm = standing()
    lm[25, :2] = (60, 95)  # knee lifted to just above hip height (5 px of a 60 px torso)
    caps = body_model.body_capsules(lm)
    assert UPPER_LEGS in [c[0] for c in caps]


def test_without_legs_the_torso_runs_to_the_bottom_edge():
    # The hips of an upper-body crop are extrapolated above its bottom edge; the person's pixels
    # below them are the torso's, not background.
    lm = standing()
    lm[25:33, 2] = 0.05
    parts = pose_geometry.part_map(lm, np.ones((138, 100), np.float32))
    assert (parts[130:138, 45:55] == pose_geometry.TORSO).all()
    caps = body_model.body_capsules(lm, mask=np.ones((138, 100), np.float32))
    assert caps[0][0] == pose_geometry.TORSO and caps[0][2][:, 1].max() >= 138
    # A full body whose hidden legs the mask does not show keeps its torso at the hips.
    mask = np.zeros((200, 100), np.float32)
    mask[:112] = 1.0
    caps = body_model.body_capsules(lm, mask=mask)
    assert caps[0][2][:, 1].max() == 100
