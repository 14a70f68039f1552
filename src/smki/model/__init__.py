"""Pure values of the SMKI: entity identifiers, roles, key usages, certificate kinds, statuses. No I/O.

The parsers of what users type (``KeyUsage.parse``, ``CertificateStatus.parse``, ``SmiStatus.parse``,
``DeviceType.parse``, ``CertificateKind.parse``, ``EntityId.parse``, ``RemotePartyRole.parse``) live here,
so the API and the CLI read the same text the same way.
"""

from smki.model.entity import EntityId
from smki.model.errors import InvalidInput, PolicyRefusal, SmkiError, StorageConflict, StorageUnavailable
from smki.model.kinds import CertificateKind, CertificateStatus, DeviceType, Hierarchy, KeyUsage, SmiStatus
from smki.model.roles import RemotePartyRole, RoleInfo

__all__ = [
    "CertificateKind",
    "CertificateStatus",
    "DeviceType",
    "EntityId",
    "Hierarchy",
    "InvalidInput",
    "KeyUsage",
    "PolicyRefusal",
    "RemotePartyRole",
    "RoleInfo",
    "SmiStatus",
    "SmkiError",
    "StorageConflict",
    "StorageUnavailable",
]
