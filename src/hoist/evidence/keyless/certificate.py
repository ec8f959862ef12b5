"""What a Fulcio certificate says: its SANs, the OIDC issuer and the claims of :data:`CLAIMS`."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from hoist.evidence.keyless.policy import CLAIMS, ISSUER_OID, ISSUER_V1_OID

if TYPE_CHECKING:
    from cryptography.x509 import Certificate


def sans(cert: Certificate) -> list[str]:
    from cryptography import x509

    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [""]
    found: list[str] = [*names.get_values_for_type(x509.UniformResourceIdentifier)]
    found += names.get_values_for_type(x509.RFC822Name)
    found += [
        other.value.decode(errors="replace")
        for other in names.get_values_for_type(x509.OtherName)
        if other.type_id.dotted_string == "1.3.6.1.4.1.57264.1.7"
    ]
    return found or [""]


def issuer(cert: Certificate) -> str | None:
    """The OIDC issuer: the DER extension ``1.8``, else the deprecated raw ``1.1`` (as cosign reads it)."""
    return extension(cert, ISSUER_OID, der=True) or extension(cert, ISSUER_V1_OID, der=False)


def certificate_claims(cert: Certificate) -> dict[str, str]:
    """Every claim of :data:`~hoist.evidence.keyless.policy.CLAIMS` the certificate carries."""
    claims = {}
    for name, claim in CLAIMS.items():
        value = extension(cert, claim.oid, der=claim.der)
        if value is not None:
            claims[name] = value
    return claims


def extension(cert: Certificate, oid: str, *, der: bool) -> str | None:
    from cryptography import x509
    from cryptography.hazmat import asn1

    try:
        raw = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    except x509.ExtensionNotFound:
        return None
    data = getattr(raw, "value", b"")
    try:
        return str(asn1.decode_der(str, data)) if der else bytes(data).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def issuer_organization(doc: dict[str, Any]) -> str | None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    material = doc.get("verificationMaterial") or {}
    raw = (material.get("certificate") or {}).get("rawBytes")
    if raw is None:
        chain = (material.get("x509CertificateChain") or {}).get("certificates") or [{}]
        raw = chain[0].get("rawBytes")
    try:
        cert = x509.load_der_x509_certificate(base64.b64decode(str(raw)))
    except (ValueError, binascii.Error):
        return None
    names = cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(names[0].value) if names else None
