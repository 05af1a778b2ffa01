# Copyright 2026 The lnn_control Authors
# SPDX-License-Identifier: Apache-2.0
"""
SROS2 keystores made with ``cryptography``.

The layout and files are those of ``ros2 security create_keystore`` and ``create_enclave``
(Jazzy), so rmw_fastrtps and the ``ros2 security`` tools accept them::

    KEYSTORE/
      public/ca.cert.pem              the CA: ECDSA P-256, self-signed, CA:TRUE pathlen 1
      public/identity_ca.cert.pem     -> ca.cert.pem (one CA for identities and permissions)
      public/permissions_ca.cert.pem  -> ca.cert.pem
      private/ca.key.pem              its key (0600; keep it off the robot)
      private/identity_ca.key.pem     -> ca.key.pem
      private/permissions_ca.key.pem  -> ca.key.pem
      enclaves/governance.xml         domain rules (permissions.governance_xml)
      enclaves/governance.p7s         the same, S/MIME-signed by the permissions CA
      enclaves/<enclave>/cert.pem     identity CN=<enclave>, signed by the identity CA
      enclaves/<enclave>/key.pem      its ECDSA P-256 key (0600)
      enclaves/<enclave>/permissions.xml, permissions.p7s   what it may publish/subscribe
      enclaves/<enclave>/{identity_ca.cert.pem,permissions_ca.cert.pem,governance.p7s}
                                      relative symlinks to the shared files

Signed documents are S/MIME clear-signed (detached PKCS#7, SHA-256, text/plain part), as
``openssl smime -sign -text`` writes them and Fast DDS reads them.

Validity: certificates and grants start at ``valid_from`` (default 2024-01-01 UTC, well in
the past: DDS-Security checks them against the local clock, and a Raspberry Pi has no RTC
battery, so its clock can be behind after an offline boot) and last ``valid_days`` (default
3650). Running ``create`` again on a keystore keeps its CA and the existing enclave keys and
rewrites the governance and permissions (after a parameter or domain change).
"""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone
import email
import os
from pathlib import Path
import shutil
import subprocess
from typing import Iterable, List, Optional, Tuple

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID
from lnn_control.ros.interfaces import NodeInterfaces
from lnn_control.security import permissions as perms

__all__ = ['Keystore', 'create_keystore', 'add_enclave', 'sign_smime', 'signed_content',
           'verify_smime', 'check_enclave', 'export_enclaves', 'validity', 'DEFAULT_VALID_FROM',
           'CA_NAME']

DEFAULT_VALID_FROM = datetime(2024, 1, 1, tzinfo=timezone.utc)
CA_NAME = 'lnn_control keystore CA'
_ENCLAVE_FILES = ('cert.pem', 'key.pem', 'governance.p7s', 'identity_ca.cert.pem',
                  'permissions_ca.cert.pem', 'permissions.xml', 'permissions.p7s')


class Keystore:
    """Paths of an SROS2 keystore rooted at ``path``."""

    def __init__(self, path: os.PathLike) -> None:
        self.path = Path(path)
        self.public = self.path / 'public'
        self.private = self.path / 'private'
        self.enclaves = self.path / 'enclaves'

    def enclave_dir(self, enclave: str) -> Path:
        """Return the folder of ``enclave`` (``/lnn_controller`` -> enclaves/lnn_controller)."""
        _check_enclave_name(enclave)
        return self.enclaves.joinpath(*enclave.strip('/').split('/'))

    def list_enclaves(self) -> List[str]:
        """Return the enclaves that have a key, as ``/path`` names."""
        return sorted('/' + p.parent.relative_to(self.enclaves).as_posix()
                      for p in self.enclaves.glob('**/key.pem'))

    def has_ca(self) -> bool:
        """Return whether the CA certificate and key exist."""
        return all((d / f'{n}.{k}.pem').is_file() for d, k in ((self.public, 'cert'),
                   (self.private, 'key')) for n in ('identity_ca', 'permissions_ca'))

    def ca(self, kind: str = 'permissions') -> Tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        """Load the ``identity`` or ``permissions`` CA certificate and key."""
        cert = x509.load_pem_x509_certificate((self.public / f'{kind}_ca.cert.pem').read_bytes())
        key = serialization.load_pem_private_key(
            (self.private / f'{kind}_ca.key.pem').read_bytes(), password=None)
        return cert, key

    def domain_id(self) -> Optional[int]:
        """Return the domain id the signed governance names (None if it names none)."""
        from lnn_control.security.schema import GOVERNANCE, validate
        root = validate(signed_content((self.enclaves / 'governance.p7s').read_bytes()),
                        GOVERNANCE)
        text = root.findtext('domain_access_rules/domain_rule/domains/id')
        return int(text) if text else None


def validity(cert: x509.Certificate) -> Tuple[datetime, datetime]:
    """Return a certificate's (not before, not after) in UTC (cryptography 41 and later)."""
    if hasattr(cert, 'not_valid_before_utc'):
        return cert.not_valid_before_utc, cert.not_valid_after_utc
    # cryptography < 42 (Ubuntu 24.04's python3-cryptography 41) gives naive UTC times.
    return (cert.not_valid_before.replace(tzinfo=timezone.utc),
            cert.not_valid_after.replace(tzinfo=timezone.utc))


def _check_enclave_name(enclave: str) -> None:
    parts = enclave.split('/')
    if not enclave.startswith('/') or enclave == '/' or not all(
            p and (p[0].isalpha() or p[0] == '_') and p.replace('_', 'a').isalnum()
            for p in parts[1:]):
        raise ValueError(f'invalid enclave name {enclave!r}: an absolute path such as '
                         '/lnn_controller (letters, digits and _ per part)')


def _write(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or path.exists():
        path.unlink()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, 'wb') as f:
        f.write(data)
    os.chmod(path, mode)


def _symlink(target: Path, link: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.path.relpath(target, link.parent))


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: Optional[x509.Name],
                 issuer_key: ec.EllipticCurvePrivateKey, ca: bool, valid_from: datetime,
                 valid_days: int) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder()
               .subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(valid_from)
               .not_valid_after(datetime.now(timezone.utc) + timedelta(days=valid_days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=1 if ca else None),
                              critical=ca))
    return builder.sign(issuer_key, hashes.SHA256())


def sign_smime(data: bytes, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    """S/MIME clear-sign ``data`` (detached PKCS#7, SHA-256, text/plain), as SROS2 does."""
    return (pkcs7.PKCS7SignatureBuilder().set_data(data)
            .add_signer(cert, key, hashes.SHA256())
            .sign(serialization.Encoding.SMIME,
                  [pkcs7.PKCS7Options.Text, pkcs7.PKCS7Options.DetachedSignature]))


def signed_content(smime: bytes) -> bytes:
    """Return the document an S/MIME clear-signed file carries (its first MIME part)."""
    message = email.message_from_bytes(smime)
    if not message.is_multipart():
        raise ValueError('not an S/MIME multipart/signed document')
    return message.get_payload(0).get_payload(decode=True).replace(b'\r\n', b'\n')


def verify_smime(smime_path: Path, ca_path: Path) -> Optional[str]:
    """
    Verify an S/MIME signature against a CA with the openssl command; None when valid.

    cryptography has no PKCS#7 verification. Returns why it does not verify otherwise, and
    raises FileNotFoundError when openssl is not installed.
    """
    openssl = shutil.which('openssl')
    if openssl is None:
        raise FileNotFoundError('openssl is not installed')
    result = subprocess.run(
        [openssl, 'smime', '-verify', '-text', '-in', str(smime_path), '-CAfile', str(ca_path),
         '-purpose', 'any', '-out', os.devnull], capture_output=True, text=True, timeout=30)
    if result.returncode == 0:
        return None
    return (result.stderr.strip().splitlines() or ['openssl smime -verify failed'])[0]


def create_keystore(path: os.PathLike, domain_id: int = 0, *,
                    valid_from: datetime = DEFAULT_VALID_FROM,
                    valid_days: int = 3650) -> Keystore:
    """Create (or update) the keystore at ``path``: the CA if absent, the governance."""
    if not 0 <= int(domain_id) <= 232:
        raise ValueError(f'domain id must be in 0-232 (Fast DDS ports), got {domain_id}')
    ks = Keystore(path)
    for folder, mode in ((ks.public, 0o755), (ks.private, 0o700), (ks.enclaves, 0o755)):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, mode)
    if not ks.has_ca():
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(CA_NAME, key, None, key, True, valid_from, valid_days)
        _write(ks.private / 'ca.key.pem', _key_pem(key), 0o600)
        _write(ks.public / 'ca.cert.pem', cert.public_bytes(serialization.Encoding.PEM))
        for kind in ('identity_ca', 'permissions_ca'):
            _symlink(ks.public / 'ca.cert.pem', ks.public / f'{kind}.cert.pem')
            _symlink(ks.private / 'ca.key.pem', ks.private / f'{kind}.key.pem')
    cert, key = ks.ca('permissions')
    governance = perms.governance_xml(domain_id)
    _write(ks.enclaves / 'governance.xml', governance)
    _write(ks.enclaves / 'governance.p7s', sign_smime(governance, cert, key))
    return ks


def add_enclave(ks: Keystore, interfaces: NodeInterfaces, domain_id: int, *,
                valid_from: datetime = DEFAULT_VALID_FROM, valid_days: int = 3650) -> Path:
    """
    Create (or update) the enclave ``interfaces.enclave``.

    Its identity is kept if it exists and the CA signed it; its permissions are generated
    from ``interfaces`` and signed.
    """
    folder = ks.enclave_dir(interfaces.enclave)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ('identity_ca.cert.pem', 'permissions_ca.cert.pem'):
        _symlink(ks.public / name, folder / name)
    _symlink(ks.enclaves / 'governance.p7s', folder / 'governance.p7s')
    id_cert, id_key = ks.ca('identity')
    cert_path, key_path = folder / 'cert.pem', folder / 'key.pem'
    cert = _load_cert(cert_path) if key_path.is_file() else None
    if cert is None or _issue_problem(cert, id_cert, interfaces.enclave):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(interfaces.enclave, key, id_cert.subject, id_key, False,
                            valid_from, valid_days)
        _write(key_path, _key_pem(key), 0o600)
        _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    document = perms.permissions_xml(interfaces, domain_id, *validity(cert))
    p_cert, p_key = ks.ca('permissions')
    _write(folder / 'permissions.xml', document)
    _write(folder / 'permissions.p7s', sign_smime(document, p_cert, p_key))
    return folder


def _load_cert(path: Path) -> Optional[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError):
        return None


def _issue_problem(cert: x509.Certificate, ca: x509.Certificate, enclave: str) -> Optional[str]:
    """Return why ``cert`` is not ``enclave``'s identity issued by ``ca`` now, or None."""
    try:
        cert.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:
        return f'cert.pem is not signed by the identity CA ({exc or type(exc).__name__})'
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not cn or cn[0].value != enclave:
        return f'cert.pem names {cert.subject.rfc4514_string()!r}, not CN={enclave}'
    start, end = validity(cert)
    if not start <= datetime.now(timezone.utc) <= end:
        return f'cert.pem is valid {start:%Y-%m-%d} to {end:%Y-%m-%d}, not now'

    return None


def check_enclave(keystore: os.PathLike, interfaces: NodeInterfaces,
                  domain_id: Optional[int] = None) -> List[str]:
    """
    Return every reason ``interfaces`` would not work in its enclave of ``keystore``.

    Files missing, an identity the CA did not sign, a signature that does not verify, a
    permissions.xml edited without re-signing, a domain mismatch, and each topic or service
    the node uses that the signed permissions do not allow. Empty: all is allowed.
    """
    ks = Keystore(keystore)
    folder = ks.enclave_dir(interfaces.enclave)
    if not folder.is_dir():
        return [f'enclave {interfaces.enclave} does not exist: no {folder}']
    absent = [name for name in _ENCLAVE_FILES if not (folder / name).is_file()]
    if absent:
        return [f'enclave {interfaces.enclave}: missing {", ".join(absent)} in {folder}']
    problems = []
    ca = _load_cert(folder / 'identity_ca.cert.pem')
    cert = _load_cert(folder / 'cert.pem')
    reason = 'unreadable certificate' if ca is None or cert is None else \
        _issue_problem(cert, ca, interfaces.enclave)
    if reason:
        problems.append(f'identity: {reason}')
    for name in ('permissions.p7s', 'governance.p7s'):
        try:
            reason = verify_smime(folder / name, folder / 'permissions_ca.cert.pem')
        except FileNotFoundError:
            reason = None   # no openssl: the content checks below still run
        if reason:
            problems.append(f'{name}: signature does not verify: {reason}')
    signed = signed_content((folder / 'permissions.p7s').read_bytes())
    if signed.strip() != (folder / 'permissions.xml').read_bytes().strip():
        problems.append('permissions.xml differs from what permissions.p7s signs: re-sign it '
                        '(lnn-control security create); the signed one is what DDS enforces')
    try:
        grants = perms.parse_permissions(signed)
    except perms.SchemaError as exc:
        return problems + [f'permissions.p7s: {exc}']
    problems += perms.subject_problems(grants, interfaces.enclave)
    governed = Keystore(keystore).domain_id() if domain_id is None else domain_id
    for grant in grants:
        if grant.subject != f'CN={interfaces.enclave}':
            continue
        if governed is not None and governed not in grant.domains():
            problems.append(f'permissions are for domain(s) {sorted(grant.domains())}, the '
                            f'node runs on {governed}')
        problems += perms.missing(grant, interfaces, governed if governed is not None else 0)
    return problems


def export_enclaves(keystore: os.PathLike, enclaves: Iterable[str], out: os.PathLike) -> Path:
    """
    Copy ``enclaves`` into a new keystore at ``out`` without the CA's private key.

    Plain files instead of symlinks, to copy to a robot or a laptop (``scp -r``).
    """
    ks, target = Keystore(keystore), Keystore(out)
    if target.path.exists() and any(target.path.iterdir()):
        raise FileExistsError(f'{target.path} exists and is not empty')
    for name in ('ca.cert.pem', 'identity_ca.cert.pem', 'permissions_ca.cert.pem'):
        _write(target.public / name, (ks.public / name).read_bytes())
    _write(target.enclaves / 'governance.p7s', (ks.enclaves / 'governance.p7s').read_bytes())
    _write(target.enclaves / 'governance.xml', (ks.enclaves / 'governance.xml').read_bytes())
    for enclave in enclaves:
        source = ks.enclave_dir(enclave)
        if not (source / 'key.pem').is_file():
            raise FileNotFoundError(f'enclave {enclave} is not in {ks.path}')
        for name in _ENCLAVE_FILES:
            _write(target.enclave_dir(enclave) / name, (source / name).read_bytes(),
                   0o600 if name == 'key.pem' else 0o644)
    return target.path
