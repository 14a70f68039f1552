"""Certificate kinds, key usages, Device types and the statuses the SMKI Repository and SMI report.

Each enum that users type has one ``parse`` (case-insensitive, ``-``/``_``/space alike), raising
InvalidInput with one code per parser (``key_usage.unknown``, ``certificate_status.unknown``,
``certificate_kind.unknown``, ``smi_status.unknown``, ``device_type.unknown``). The API and the CLI
both use these, so the same text gets the same answer, or the same error code, in both.
"""

from __future__ import annotations

import enum

from smki.model.errors import InvalidInput


def _key(text: str) -> str:
    """The text as parsers compare it: trimmed, lower case, with '-', '_' and spaces removed."""
    return text.strip().lower().replace("-", "").replace("_", "").replace(" ", "")


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
        table = {
            "ds": cls.DIGITAL_SIGNATURE,
            "digitalsignature": cls.DIGITAL_SIGNATURE,
            "ka": cls.KEY_AGREEMENT,
            "keyagreement": cls.KEY_AGREEMENT,
        }
        found = table.get(_key(text))
        if found is None:
            raise InvalidInput("key_usage.unknown", f"'{text}' is not a key usage: use DS or KA.")
        return found


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

    @classmethod
    def parse(cls, text: str) -> CertificateKind:
        """Accept the value (``issuing-oca``), in any case and with ``_`` or spaces for ``-``."""
        found = _KIND_BY_KEY.get(_key(text))
        if found is None:
            raise InvalidInput(
                "certificate_kind.unknown",
                f"'{text}' is not a certificate kind: use one of " + ", ".join(k.value for k in cls) + ".",
            )
        return found


_KIND_BY_KEY: dict[str, CertificateKind] = {_key(k.value): k for k in CertificateKind}

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

    @classmethod
    def parse(cls, text: str) -> CertificateStatus:
        """Accept the letter (``I``) or the name (``in use``, ``IN_USE``, ``not-in-use``), in any case."""
        key = _key(text)
        for status in cls:
            if key in (status.value.lower(), _key(status.name)):
                return status
        raise InvalidInput(
            "certificate_status.unknown",
            f"'{text}' is not a certificate status: use P (pending), I (in use), N (not in use), "
            "E (expired) or R (revoked).",
        )


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

    @classmethod
    def parse(cls, text: str) -> SmiStatus:
        """Accept the SMI name (``installed not commissioned``) in any case, ``-`` or ``_`` for spaces."""
        found = _SMI_BY_KEY.get(_key(text))
        if found is None:
            raise InvalidInput(
                "smi_status.unknown",
                f"'{text}' is not an SMI Status: use one of " + ", ".join(s.value for s in cls) + ".",
            )
        return found


_SMI_BY_KEY: dict[str, SmiStatus] = {_key(s.value): s for s in SmiStatus}


class DeviceType(enum.Enum):
    """The Subjects of Device Certificates named in L3.16."""

    COMMUNICATIONS_HUB_FUNCTION = "communications-hub-function"
    GAS_PROXY_FUNCTION = "gas-proxy-function"
    ELECTRICITY_SMART_METER = "electricity-smart-meter"
    GAS_SMART_METER = "gas-smart-meter"
    TYPE_1_DEVICE = "type-1-device"
    PRODUCTION_PROVING_DEVICE = "production-proving-device"

    @property
    def title(self) -> str:
        """The SEC's name for the Device."""
        return self.value.replace("-", " ").title()

    @classmethod
    def parse(cls, text: str) -> DeviceType:
        """Accept the value (``gas-smart-meter``) or the usual abbreviations (CHF, GPF, ESME, GSME, PPD)."""
        found = _DEVICE_BY_KEY.get(_key(text))
        if found is None:
            raise InvalidInput(
                "device_type.unknown",
                f"'{text}' is not a Device type: use one of CHF, GPF, ESME, GSME, type-1-device or PPD.",
            )
        return found


_DEVICE_BY_KEY: dict[str, DeviceType] = {
    **{_key(t.value): t for t in DeviceType},
    "chf": DeviceType.COMMUNICATIONS_HUB_FUNCTION,
    "gpf": DeviceType.GAS_PROXY_FUNCTION,
    "esme": DeviceType.ELECTRICITY_SMART_METER,
    "gsme": DeviceType.GAS_SMART_METER,
    "type1": DeviceType.TYPE_1_DEVICE,
    "ppd": DeviceType.PRODUCTION_PROVING_DEVICE,
}
