"""Partial-REID (Zheng et al., "Partial Person Re-identification", ICCV 2015), read as BPBReID's / PVPM's
``Partial_REID`` reads it."""

from __future__ import annotations

from .occluded_reid import OccludedREID


class PartialREID(OccludedREID):
    """Partial-REID: flat ``partial_body_images/PPP_NN.jpg`` (queries) and ``whole_body_images/PPP_NN.jpg``
    (gallery), 60 identities with 5 partial and 5 whole-body images each; no training split.

    The root is ``Partial_REID/`` or holds it. The loader globs ``*.jpg`` in each folder and reads
    pid = the file name's field before the first ``_``; camera 0 for queries, 1 for the gallery.
    Setting: general (nothing is junk): partial queries against whole-body galleries, reported as
    CMC (rank-1, rank-3) after training on Market-1501.
    """

    name = "partial-reid"
    title = "Partial-REID"
    expected = "partial-reid: partial_body_images/*.jpg and whole_body_images/*.jpg"
    query_folder = "partial_body_images"
    suffix = ".jpg"
    depth = 0
    subfolders = ("", "Partial_REID/")
