"""Entity Identifiers: the EUI-64 that names every device and every party in the SMKI."""

from __future__ import annotations

import re
from dataclasses import dataclass

from smki.model.errors import InvalidInput

_SEPARATORS = re.compile(r"[\s\-:]")
_HEX16 = re.compile(r"[0-9A-Fa-f]{16}")


@dataclass(frozen=True, slots=True, order=True)
class EntityId:
    """An EUI-64 Entity Identifier (8 octets).

    Accepts ``90-B3-D5-1F-30-01-00-00``, ``90b3d51f30010000``, ``90 B3 D5 1F 30 01 00 00`` and
    colon-separated forms; renders dashed (``90-B3-D5-1F-30-01-00-00``, as the SMKI Repository shows it)
    and compact (``90B3D51F30010000``).
    """

    value: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.value, bytes) or len(self.value) != 8:
            raise InvalidInput(
                "entity_id.length",
                f"An Entity Identifier is an EUI-64 of exactly 8 bytes, not {_describe(self.value)}.",
            )

    @classmethod
    def parse(cls, text: str) -> EntityId:
        """Parse an EUI-64 written as 16 hex digits, optionally separated by dashes, colons or spaces."""
        if not isinstance(text, str):
            raise InvalidInput("entity_id.syntax", "An Entity Identifier must be given as text.")
        stripped = text.strip()
        compact = _SEPARATORS.sub("", stripped)
        if not _HEX16.fullmatch(compact):
            raise InvalidInput(
                "entity_id.syntax",
                f"'{_shorten(stripped)}' is not an EUI-64: expected 16 hexadecimal digits such as "
                "90-B3-D5-1F-30-01-00-00.",
            )
        if stripped != compact and not _well_grouped(stripped):
            raise InvalidInput(
                "entity_id.syntax",
                f"'{_shorten(stripped)}' is not an EUI-64: separators must split it into 8 pairs of "
                "hexadecimal digits such as 90-B3-D5-1F-30-01-00-00.",
            )
        return cls(bytes.fromhex(compact))

    @classmethod
    def from_bytes(cls, value: bytes) -> EntityId:
        """Wrap 8 raw octets (as found in a certificate)."""
        return cls(bytes(value))

    @property
    def dashed(self) -> str:
        """Upper-case pairs joined by dashes: ``90-B3-D5-1F-30-01-00-00``."""
        return self.value.hex("-").upper()

    @property
    def compact(self) -> str:
        """Sixteen upper-case hex digits: ``90B3D51F30010000``."""
        return self.value.hex().upper()

    def __str__(self) -> str:
        return self.dashed

    def __repr__(self) -> str:
        return f"EntityId('{self.dashed}')"


def _well_grouped(text: str) -> bool:
    groups = [g for g in re.split(r"[\s\-:]+", text) if g]
    return len(groups) == 8 and all(len(g) == 2 for g in groups)


def _shorten(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _describe(value: object) -> str:
    if isinstance(value, bytes | bytearray):
        return f"{len(value)} bytes"
    return f"a {type(value).__name__}"
