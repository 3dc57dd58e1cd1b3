"""NHS England's seven regions: which region oversees an organisation, as one enum with its labels.

The national view filters and groups proposals by the region of their lead
commissioner's organisation.  Administrators set it (`isap org set-region`, the
Users page); the store keeps the code, people read the label.
"""

from __future__ import annotations

from enum import StrEnum


class Region(StrEnum):
    EAST_OF_ENGLAND = "east_of_england"
    LONDON = "london"
    MIDLANDS = "midlands"
    NORTH_EAST_AND_YORKSHIRE = "north_east_and_yorkshire"
    NORTH_WEST = "north_west"
    SOUTH_EAST = "south_east"
    SOUTH_WEST = "south_west"

    @property
    def label(self) -> str:
        return REGION_LABELS[self]

    @classmethod
    def parse(cls, text: str) -> "Region":
        """A region from its code or its label, in any case ("midlands", "North West")."""
        wanted = " ".join(str(text).replace("_", " ").split()).casefold()
        for region in cls:
            if wanted in (region.value.replace("_", " "), region.label.casefold()):
                return region
        raise ValueError(f"{text!r} is not one of NHS England's regions: "
                         + ", ".join(r.label for r in cls))


REGION_LABELS = {
    Region.EAST_OF_ENGLAND: "East of England",
    Region.LONDON: "London",
    Region.MIDLANDS: "Midlands",
    Region.NORTH_EAST_AND_YORKSHIRE: "North East and Yorkshire",
    Region.NORTH_WEST: "North West",
    Region.SOUTH_EAST: "South East",
    Region.SOUTH_WEST: "South West",
}
