"""Remote Party Roles: the codes carried (as two upper-case hex digits) in an Organisation Certificate's OU.

Sources: GBCS RemotePartyRole (0-7, 127); SEC Section L Annex A Table 1 (126, 128-133); codes seen in DCC
test certificates (8 loadController, 135 xmlSign, 137 dspXmlSign). Any other code 0-255 still parses as
an unnamed role, so a certificate from a newer environment is read, not rejected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from smki.model.errors import InvalidInput

_OU_HEX = re.compile(r"[0-9A-Fa-f]{2}")


@dataclass(frozen=True, slots=True)
class RoleInfo:
    """A named role: its code, the GBCS/SEC name and where the code is defined."""

    code: int
    name: str
    source: str


_KNOWN: tuple[RoleInfo, ...] = (
    RoleInfo(0, "root", "GBCS"),
    RoleInfo(1, "recovery", "GBCS"),
    RoleInfo(2, "supplier", "GBCS"),
    RoleInfo(3, "networkOperator", "GBCS"),
    RoleInfo(4, "accessControlBroker", "GBCS"),
    RoleInfo(5, "transitionalCoS", "GBCS"),
    RoleInfo(6, "wanProvider", "GBCS"),
    RoleInfo(7, "issuingAuthority", "GBCS"),
    RoleInfo(8, "loadController", "DCC test certificates"),
    RoleInfo(126, "s1SPxmlSigning", "SEC L Annex A Table 1"),
    RoleInfo(127, "other", "GBCS"),
    RoleInfo(128, "pPPXmlSign", "SEC L Annex A Table 1"),
    RoleInfo(129, "pPRDPFileSign", "SEC L Annex A Table 1"),
    RoleInfo(130, "s1SPMigrationSigning", "SEC L Annex A Table 1"),
    RoleInfo(131, "requestingPartyFileSigning", "SEC L Annex A Table 1"),
    RoleInfo(132, "commissioningPartyFileSigning", "SEC L Annex A Table 1"),
    RoleInfo(133, "commissioningPartyXmlSigning", "SEC L Annex A Table 1"),
    RoleInfo(135, "xmlSign", "DCC test certificates"),
    RoleInfo(137, "dspXmlSign", "DCC test certificates"),
)
_BY_CODE = {r.code: r for r in _KNOWN}
_BY_NAME = {r.name.lower(): r for r in _KNOWN}


@dataclass(frozen=True, slots=True, order=True)
class RemotePartyRole:
    """A Remote Party Role code (0-255). Named roles are class attributes: ``RemotePartyRole.SUPPLIER``."""

    code: int

    ROOT: ClassVar[RemotePartyRole]
    RECOVERY: ClassVar[RemotePartyRole]
    SUPPLIER: ClassVar[RemotePartyRole]
    NETWORK_OPERATOR: ClassVar[RemotePartyRole]
    ACCESS_CONTROL_BROKER: ClassVar[RemotePartyRole]
    TRANSITIONAL_COS: ClassVar[RemotePartyRole]
    WAN_PROVIDER: ClassVar[RemotePartyRole]
    ISSUING_AUTHORITY: ClassVar[RemotePartyRole]
    LOAD_CONTROLLER: ClassVar[RemotePartyRole]
    S1SP_XML_SIGNING: ClassVar[RemotePartyRole]
    OTHER: ClassVar[RemotePartyRole]
    PPP_XML_SIGN: ClassVar[RemotePartyRole]
    PPRDP_FILE_SIGN: ClassVar[RemotePartyRole]
    S1SP_MIGRATION_SIGNING: ClassVar[RemotePartyRole]
    REQUESTING_PARTY_FILE_SIGNING: ClassVar[RemotePartyRole]
    COMMISSIONING_PARTY_FILE_SIGNING: ClassVar[RemotePartyRole]
    COMMISSIONING_PARTY_XML_SIGNING: ClassVar[RemotePartyRole]
    XML_SIGN: ClassVar[RemotePartyRole]
    DSP_XML_SIGN: ClassVar[RemotePartyRole]

    def __post_init__(self) -> None:
        if not isinstance(self.code, int) or isinstance(self.code, bool) or not 0 <= self.code <= 255:
            raise InvalidInput(
                "role.range", f"A Remote Party Role code is a number from 0 to 255, not {self.code!r}."
            )

    @classmethod
    def from_ou(cls, ou: str) -> RemotePartyRole:
        """Read the role from a certificate OU: exactly two hexadecimal digits (``"02"``, ``"7F"``)."""
        if not isinstance(ou, str) or not _OU_HEX.fullmatch(ou):
            raise InvalidInput(
                "role.ou_syntax",
                f"The OU {ou!r} is not a Remote Party Role: it must be exactly two hexadecimal digits.",
            )
        return cls(int(ou, 16))

    @classmethod
    def parse(cls, text: str) -> RemotePartyRole:
        """Accept a role name (``supplier``), a decimal code (``2``) or a hex OU form (``0x87``)."""
        t = text.strip()
        if t.lower() in _BY_NAME:
            return cls(_BY_NAME[t.lower()].code)
        try:
            code = int(t, 16) if t.lower().startswith("0x") else int(t, 10)
        except ValueError:
            raise InvalidInput(
                "role.unknown", f"'{t}' is neither a known Remote Party Role name nor a code from 0 to 255."
            ) from None
        return cls(code)

    @property
    def ou(self) -> str:
        """The OU form: two upper-case hex digits."""
        return f"{self.code:02X}"

    @property
    def name(self) -> str | None:
        """The GBCS / SEC name, or None for an unnamed code."""
        info = _BY_CODE.get(self.code)
        return info.name if info else None

    @property
    def source(self) -> str | None:
        """Where the code is defined (GBCS, SEC L Annex A Table 1, DCC test certificates)."""
        info = _BY_CODE.get(self.code)
        return info.source if info else None

    @property
    def label(self) -> str:
        """Human form: ``supplier (2)`` or ``unnamed (200)``."""
        return f"{self.name or 'unnamed'} ({self.code})"

    def __str__(self) -> str:
        return self.name or str(self.code)

    @staticmethod
    def known() -> tuple[RoleInfo, ...]:
        """Every named role, by code."""
        return _KNOWN


RemotePartyRole.ROOT = RemotePartyRole(0)
RemotePartyRole.RECOVERY = RemotePartyRole(1)
RemotePartyRole.SUPPLIER = RemotePartyRole(2)
RemotePartyRole.NETWORK_OPERATOR = RemotePartyRole(3)
RemotePartyRole.ACCESS_CONTROL_BROKER = RemotePartyRole(4)
RemotePartyRole.TRANSITIONAL_COS = RemotePartyRole(5)
RemotePartyRole.WAN_PROVIDER = RemotePartyRole(6)
RemotePartyRole.ISSUING_AUTHORITY = RemotePartyRole(7)
RemotePartyRole.LOAD_CONTROLLER = RemotePartyRole(8)
RemotePartyRole.S1SP_XML_SIGNING = RemotePartyRole(126)
RemotePartyRole.OTHER = RemotePartyRole(127)
RemotePartyRole.PPP_XML_SIGN = RemotePartyRole(128)
RemotePartyRole.PPRDP_FILE_SIGN = RemotePartyRole(129)
RemotePartyRole.S1SP_MIGRATION_SIGNING = RemotePartyRole(130)
RemotePartyRole.REQUESTING_PARTY_FILE_SIGNING = RemotePartyRole(131)
RemotePartyRole.COMMISSIONING_PARTY_FILE_SIGNING = RemotePartyRole(132)
RemotePartyRole.COMMISSIONING_PARTY_XML_SIGNING = RemotePartyRole(133)
RemotePartyRole.XML_SIGN = RemotePartyRole(135)
RemotePartyRole.DSP_XML_SIGN = RemotePartyRole(137)
