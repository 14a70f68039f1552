"""Environment values of a PKI (policy OIDs, hwType OID, CA names): configuration, not constants.

The defaults are the DCC test-PKI values seen in ../shared/smki-real-certs (ZAZ1 organisation hierarchy,
RTDS device certificates). Production values differ and are not public; an operator sets them in the
environment file of the SMKI home (see docs/decisions.md).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from smki.model.errors import InvalidInput

# id-on-hardwareModuleName (RFC 4108): the device SAN otherName type.
HARDWARE_MODULE_NAME_OID = "1.3.6.1.5.5.7.8.4"
# x500UniqueIdentifier: carries the party's EUI-64 in an Organisation Certificate subject.
X500_UNIQUE_IDENTIFIER_OID = "2.5.4.45"


@dataclass(frozen=True, slots=True)
class PkiEnvironment:
    """The values that differ between SMKI environments (test, production)."""

    # certificatePolicies OIDs, one per Certificate Policy.
    organisation_policy_oid: str = "1.2.826.0.1.8641679.1.2.1.4"
    device_policy_oid: str = "1.2.826.0.1.1800000.1.2.1.4"
    iki_policy_oid: str = "1.2.826.0.1.8641679.1.2.3.4"
    # hwType in the device SAN HardwareModuleName.
    hw_type_oid: str = "1.2.826.0.1.8641679.1.2.2.1"
    # CA common names (OCA names also carry OU=00 / OU=07 as the real certificates show).
    root_oca_name: str = "ZA"
    issuing_oca_name: str = "Z1"
    root_dca_name: str = "E300"
    issuing_dca_name: str = "E357"
    root_ica_name: str = "IA"
    issuing_ica_name: str = "I1"
    # Private arc under which smki places OIDs that public sources do not give
    # (the WrappedApexContingencyKey extension); see docs/decisions.md.
    private_arc: str = "1.3.6.1.4.1.99999.1"

    @property
    def contingency_key_extension_oid(self) -> str:
        """OID of the Root OCA WrappedApexContingencyKey extension (private arc + .1)."""
        return f"{self.private_arc}.1"

    def to_json(self) -> str:
        """Serialise for the SMKI home's environment file."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> PkiEnvironment:
        """Build from a mapping, refusing unknown keys so a typo is not silently ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInput(
                "environment.unknown_key",
                f"The environment setting {unknown[0]!r} is not known; known settings are "
                + ", ".join(sorted(known))
                + ".",
            )
        for key, value in data.items():
            if not isinstance(value, str) or not value:
                raise InvalidInput("environment.bad_value", f"The environment setting {key!r} must be text.")
        return replace(cls(), **data)

    @classmethod
    def load(cls, path: Path) -> PkiEnvironment:
        """Read an environment file (JSON); a missing file means the defaults."""
        if not path.exists():
            return cls()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(
                "environment.unreadable", f"The environment file {path} is not readable JSON: {exc}."
            ) from None
        if not isinstance(data, dict):
            raise InvalidInput("environment.unreadable", f"The environment file {path} must hold an object.")
        return cls.from_mapping(data)


DCC_TEST_ENVIRONMENT = PkiEnvironment()
