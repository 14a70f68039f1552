"""Pure values of the SMKI: entity identifiers, roles, key usages, certificate kinds. No I/O."""

from smki.model.entity import EntityId
from smki.model.errors import InvalidInput, PolicyRefusal, SmkiError, StorageConflict, StorageUnavailable
from smki.model.kinds import CertificateKind, CertificateStatus, Hierarchy, KeyUsage, SmiStatus
from smki.model.roles import RemotePartyRole, RoleInfo

__all__ = [
    "CertificateKind",
    "CertificateStatus",
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
