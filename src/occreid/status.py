"""What became of one image: the one place the manifest's statuses are defined.

``Status`` is str-valued, so a member equals its text (``Status.OCCLUDED == "occluded"``), prints
and formats as its text, and goes into the manifest, the run state and JSON as the same bytes as
the plain string did. Readers may compare rows read back from CSV (plain strings) with members.
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """The status of one image in a run, in the manifest's order.

    ``occluded``: a body part (or a rectangle, or pasted content) was drawn and covered.
    ``part_absent``: ``--part-choice paper`` drew a part the image does not show; the image is copied.
    ``no_person``: the parser found no plausible person; the image is copied.
    ``not_covered``: a pasted occluder found no donor or placement covering ``min_cover`` of the part.
    ``not_selected``: the split policy (``--occlude``, ``--fraction``) left the image unoccluded.
    ``error``: the image could not be read or written; the reason says why.
    """

    OCCLUDED = "occluded"
    PART_ABSENT = "part_absent"
    NO_PERSON = "no_person"
    NOT_COVERED = "not_covered"
    NOT_SELECTED = "not_selected"
    ERROR = "error"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def words(self) -> str:
        """The status as words (``part absent``), for tables and reports."""
        return self.value.replace("_", " ")


#: Every status as plain text, in the manifest's order (what ``writer.STATUSES`` held).
STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: The statuses an occluder's decision can end in (the runner adds ``not_selected`` and ``error``).
OCCLUSION_STATUSES: tuple[Status, ...] = (Status.OCCLUDED, Status.PART_ABSENT, Status.NO_PERSON, Status.NOT_COVERED)

__all__ = ["OCCLUSION_STATUSES", "STATUSES", "Status"]
