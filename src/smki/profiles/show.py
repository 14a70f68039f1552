"""A certificate or CSR told in SMKI terms (kind, role, EUI-64, usage, policy) rather than raw OIDs.

``describe`` returns a plain dict (the ``smki show --json`` document); ``render`` turns it into text.
Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509

from smki.model import Hierarchy
from smki.profiles.environment import PkiEnvironment
from smki.profiles.lint import LintReport, extension_name, lint
from smki.profiles.parse import SmkiFields, raw_structure


def describe(
    item: SmkiFields, env: PkiEnvironment, *, issuer: x509.Certificate | None = None
) -> dict[str, Any]:
    """The SMKI meaning of one certificate or CSR, as a JSON-ready dict."""
    report: LintReport = lint(item, env, issuer=issuer)
    raw = raw_structure(item.found_der)
    policies = [{"oid": oid, "meaning": _policy_meaning(oid, env)} for oid in item.policy_oids]
    hw = [
        {
            "hw_type": h.hw_type,
            "hw_type_is_environment": h.hw_type == env.hw_type_oid,
            "hw_serial_num": h.hw_serial_num.hex().upper(),
        }
        for h in item.hardware_module_names
    ]
    contingency = any(e.oid == env.contingency_key_extension_oid for e in raw.extensions)
    return {
        "type": "csr" if item.is_csr else "certificate",
        "kind": report.kind.value if report.kind else None,
        "kind_title": report.kind_label,
        "role": None
        if item.role is None
        else {"code": item.role.code, "name": item.role.name, "ou": item.role_ou, "label": item.role.label},
        "entity_id": item.entity_id.dashed if item.entity_id else None,
        "common_name": item.common_name,
        "key_usage": item.key_usage.value if item.key_usage else None,
        "key_usage_short": item.key_usage.short if item.key_usage else None,
        "key_usage_bits": list(item.key_usage_bits),
        "subject": report.subject,
        "issuer": report.issuer,
        "issuer_description": report.issuer_description,
        "serial": report.serial_hex,
        "not_before": item.not_before.isoformat() if item.not_before else None,
        "not_after": item.not_after.isoformat() if item.not_after else None,
        "policies": policies,
        "subject_key_identifier": _hex(item.subject_key_identifier),
        "authority_key_identifier": _hex(item.authority_key_identifier),
        "hardware_module_names": hw,
        "ca": {"is_ca": item.is_ca, "path_length": item.path_length},
        "contingency_key_extension": contingency,
        "extensions": [
            {"oid": e.oid, "name": extension_name(e.oid, env), "critical": e.critical} for e in raw.extensions
        ],
        "normalised": item.original_der is not None,
        "signature_checked": report.signature_checked,
        "conforms": report.conforms,
        "findings": [f.as_dict() for f in report.findings],
    }


def render(description: dict[str, Any]) -> str:
    """Plain text for ``smki show``: one ``label: value`` line per meaningful field."""
    d = description
    lines = [f"{d['kind_title']}"]

    def line(label: str, value: object) -> None:
        if value not in (None, "", [], False):
            lines.append(f"  {label:<22}{value}")

    role = d["role"]
    line("role", f"{role['name'] or 'unnamed'} ({role['code']}, OU {role['ou']})" if role else None)
    line("entity id (EUI-64)", d["entity_id"])
    line("common name", d["common_name"])
    usage = d["key_usage"]
    line(
        "key usage",
        f"{usage} ({d['key_usage_short']})" if usage else ", ".join(d["key_usage_bits"]) or "none",
    )
    line("subject", d["subject"])
    issuer = d["issuer"]
    if issuer is not None:
        line("issuer", f"{issuer} ({d['issuer_description']})" if d["issuer_description"] else issuer)
    line("serial", d["serial"])
    if d["not_before"]:
        line("valid", f"{d['not_before']} to {d['not_after']}")
    for p in d["policies"]:
        line("policy", f"{p['oid']} ({p['meaning']})")
    for h in d["hardware_module_names"]:
        kind = "environment hwType" if h["hw_type_is_environment"] else "NOT the environment's hwType"
        line("hardware module", f"hwSerialNum {h['hw_serial_num']}, hwType {h['hw_type']} ({kind})")
    line("subject key id", d["subject_key_identifier"])
    line("authority key id", d["authority_key_identifier"])
    if d["ca"]["is_ca"]:
        path = d["ca"]["path_length"]
        line("CA", "yes, no path length limit" if path is None else f"yes, path length {path}")
    line("contingency key", "WrappedApexContingencyKey present" if d["contingency_key_extension"] else None)
    line(
        "extensions",
        ", ".join(e["name"] + (" (critical)" if e["critical"] else "") for e in d["extensions"]),
    )
    line("signature checked", d["signature_checked"])
    if d["findings"]:
        lines.append(f"  does not conform ({len(d['findings'])} findings; see `smki lint`):")
        lines.extend(f"    {f['code']}: {f['message']}" for f in d["findings"])
    else:
        lines.append("  conforms to its SMKI profile")
    return "\n".join(lines)


def _policy_meaning(oid: str, env: PkiEnvironment) -> str:
    names = {
        env.organisation_policy_oid: Hierarchy.ORGANISATION,
        env.device_policy_oid: Hierarchy.DEVICE,
        env.iki_policy_oid: Hierarchy.IKI,
    }
    hierarchy = names.get(oid)
    if hierarchy is None:
        return "not a policy of this environment"
    return {
        Hierarchy.ORGANISATION: "Organisation Certificate Policy",
        Hierarchy.DEVICE: "Device Certificate Policy",
        Hierarchy.IKI: "IKI Certificate Policy",
    }[hierarchy]


def _hex(value: bytes | None) -> str | None:
    return value.hex().upper() if value is not None else None
