"""Certificate kinds, key usages and the statuses the SMKI Repository reports."""

from __future__ import annotations

import enum


class KeyUsage(enum.Enum):
    """The single key usage an end-entity SMKI certificate carries, or the CA usage pair."""

    # Members are singletons compared by identity: hash them by identity too (a C slot; Enum's own
    # __hash__ is Python code, and these are dict keys several times per certificate).
    __hash__ = object.__hash__

    DIGITAL_SIGNATURE = "digitalSignature"
    KEY_AGREEMENT = "keyAgreement"
    CERT_SIGN = "keyCertSign+cRLSign"

    @property
    def short(self) -> str:
        """DS, KA or CA, as the SMKI Repository and DCC keystores abbreviate them."""
        return {"digitalSignature": "DS", "keyAgreement": "KA", "keyCertSign+cRLSign": "CA"}[self.value]

    @classmethod
    def parse(cls, text: str) -> KeyUsage:
        """Accept ``DS``/``KA``, ``digitalSignature``/``keyAgreement`` and snake-case forms."""
        t = text.strip().replace("_", "").replace("-", "").lower()
        table = {
            "ds": cls.DIGITAL_SIGNATURE,
            "digitalsignature": cls.DIGITAL_SIGNATURE,
            "ka": cls.KEY_AGREEMENT,
            "keyagreement": cls.KEY_AGREEMENT,
        }
        if t not in table:
            from smki.model.errors import InvalidInput

            raise InvalidInput("key_usage.unknown", f"'{text}' is not a key usage: use DS or KA.")
        return table[t]


class Hierarchy(enum.Enum):
    """The three SMKI certificate hierarchies, each with its Certificate Policy."""

    # Members are singletons compared by identity: hash them by identity too (a C slot; Enum's own
    # __hash__ is Python code, and these are dict keys several times per certificate).
    __hash__ = object.__hash__

    ORGANISATION = "organisation"
    DEVICE = "device"
    IKI = "iki"


class CertificateKind(enum.Enum):
    """Every type of certificate the SMKI issues."""

    # Members are singletons compared by identity: hash them by identity too (a C slot; Enum's own
    # __hash__ is Python code, and these are dict keys several times per certificate).
    __hash__ = object.__hash__

    ROOT_OCA = "root-oca"
    ISSUING_OCA = "issuing-oca"
    ORGANISATION = "organisation"
    ROOT_DCA = "root-dca"
    ISSUING_DCA = "issuing-dca"
    DEVICE = "device"
    ROOT_ICA = "root-ica"
    ISSUING_ICA = "issuing-ica"
    IKI = "iki"

    @property
    def hierarchy(self) -> Hierarchy:
        """The hierarchy (and so the Certificate Policy) the kind belongs to."""
        return _HIERARCHY_OF[self._value_]

    @property
    def is_ca(self) -> bool:
        """True for Root and Issuing CA certificates."""
        return self.value.startswith(("root-", "issuing-"))

    @property
    def is_root(self) -> bool:
        """True for the self-signed Root CA certificates."""
        return self.value.startswith("root-")

    @property
    def title(self) -> str:
        """The SEC's name for the kind."""
        return {
            "root-oca": "Root OCA Certificate",
            "issuing-oca": "Issuing OCA Certificate",
            "organisation": "Organisation Certificate",
            "root-dca": "Root DCA Certificate",
            "issuing-dca": "Issuing DCA Certificate",
            "device": "Device Certificate",
            "root-ica": "Root ICA Certificate",
            "issuing-ica": "Issuing ICA Certificate",
            "iki": "IKI Certificate",
        }[self.value]


# CertificateKind.hierarchy, by value (a dict lookup: it is asked several times per certificate).
_HIERARCHY_OF: dict[str, Hierarchy] = {
    "root-oca": Hierarchy.ORGANISATION,
    "issuing-oca": Hierarchy.ORGANISATION,
    "organisation": Hierarchy.ORGANISATION,
    "root-dca": Hierarchy.DEVICE,
    "issuing-dca": Hierarchy.DEVICE,
    "device": Hierarchy.DEVICE,
    "root-ica": Hierarchy.IKI,
    "issuing-ica": Hierarchy.IKI,
    "iki": Hierarchy.IKI,
}


class CertificateStatus(enum.Enum):
    """Statuses as the DCC's SMKI Repository reports them (P, I, N, E, R)."""

    PENDING = "P"
    IN_USE = "I"
    NOT_IN_USE = "N"
    EXPIRED = "E"
    REVOKED = "R"


class SmiStatus(enum.Enum):
    """A Device's SMI Status (relevant to L3.16 'any other Party')."""

    PENDING = "pending"
    WHITELISTED = "whitelisted"
    INSTALLED_NOT_COMMISSIONED = "installed not commissioned"
    COMMISSIONED = "commissioned"
    DECOMMISSIONED = "decommissioned"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    RECOVERED = "recovered"
    RECOVERY = "recovery"
