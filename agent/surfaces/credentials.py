"""Content credentials: the image a run delivers carries a signed C2PA manifest (c2pa-python) saying
it was made by a generative model (IPTC digital source type `trainedAlgorithmicMedia`, the marking
the EU AI Act and California's SB 942 ask for), with the run's checklist and verdict as an assertion.

Signed with the operator's certificate when ATELIER_C2PA_CERT (a PEM chain, signer first) and
ATELIER_C2PA_KEY (its PEM private key) name one; otherwise with a local certificate made once
(a CA of its own and a signer it issued) and kept in ATELIER_CREDENTIALS_DIR (default
~/.config/atelier/credentials, the key readable only by its owner). Readers will call a local
certificate untrusted; the manifest is still whole and bound to the pixels."""
from __future__ import annotations

import datetime
import fcntl
import json
import os
from pathlib import Path

from agent.core.errors import ConfigError
from agent.core.types import Artifact, Attempt, RunRecord

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
VERDICT_LABEL = "org.atelier.verdict"
CERT_ENV, KEY_ENV, DIR_ENV = "ATELIER_C2PA_CERT", "ATELIER_C2PA_KEY", "ATELIER_CREDENTIALS_DIR"
SIGNABLE = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}


def _alg(key_pem: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key = load_pem_private_key(key_pem, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise ConfigError(f"{KEY_ENV}: a C2PA key is EC (P-256/384/521), Ed25519 or RSA, not {type(key).__name__}")


def signing_material() -> tuple[bytes, bytes, str]:
    """(certificate chain PEM, private key PEM, algorithm): the operator's, else the local one."""
    cert, key = os.environ.get(CERT_ENV), os.environ.get(KEY_ENV)
    if cert or key:
        if not (cert and key):
            raise ConfigError(f"content credentials need both {CERT_ENV} and {KEY_ENV} (a PEM chain and its key)")
        try:
            chain, key_pem = Path(cert).expanduser().read_bytes(), Path(key).expanduser().read_bytes()
        except OSError as e:
            raise ConfigError(f"{CERT_ENV} / {KEY_ENV}: cannot read {e.filename} ({e.strerror})") from None
        try:
            return chain, key_pem, _alg(key_pem)
        except ValueError:
            raise ConfigError(f"{KEY_ENV}: not an unencrypted PEM private key") from None
    return _local_material(Path(os.environ.get(DIR_ENV) or "~/.config/atelier/credentials").expanduser())


def _local_material(folder: Path) -> tuple[bytes, bytes, str]:
    folder.mkdir(parents=True, exist_ok=True)
    chain_path, key_path = folder / "c2pa-chain.pem", folder / "c2pa-key.pem"
    with open(folder / ".lock", "a") as lock:  # two runs at once make one certificate, not two
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (chain_path.is_file() and key_path.is_file()):
            chain, key = _make_local_certificate()
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(key)
            chain_path.write_bytes(chain)
        return chain_path.read_bytes(), key_path.read_bytes(), "es256"


def _make_local_certificate() -> tuple[bytes, bytes]:
    """A CA of this machine's own and a signing certificate it issued (C2PA refuses a self-signed
    signer): P-256 keys, the signer's key usage digitalSignature and extended usage emailProtection."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Atelier (local)")])

    def usage(**on) -> x509.KeyUsage:
        flags = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                               "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"), False)
        return x509.KeyUsage(**{**flags, **on})

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Atelier local CA")).issuer_name(name("Atelier local CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    signer = (x509.CertificateBuilder().subject_name(name("Atelier local signer")).issuer_name(ca.subject)
              .public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=825))
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(usage(digital_signature=True), critical=True)
              .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
              .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    return (signer.public_bytes(pem) + ca.public_bytes(pem),
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def manifest(record: RunRecord, attempt: Attempt) -> dict:
    """The manifest: created by a generative model (which one), and the run's verdict on the image."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        ours = version("atelier")
    except PackageNotFoundError:
        ours = "dev"
    from agent.core.requirements import checklist
    verdict = attempt.verdict
    model = attempt.artifact.request.model or record.image_model
    items = verdict.requirements if verdict and verdict.requirements else checklist(record.spec, record.brief.text)
    return {
        "claim_generator_info": [{"name": "atelier", "version": ours}],
        "title": attempt.artifact.path.name,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                "softwareAgent": {"name": f"atelier ({model})"},
                "parameters": {"description": f"generated by {model}, directed by {record.llm}, judged by "
                                              f"{record.critic}"}}]}},
            {"label": VERDICT_LABEL, "data": {
                "run_id": record.run_id, "brief": record.brief.text, "prompt": attempt.prompt, "seed": attempt.seed,
                "model": model, "critic": verdict.critic if verdict else record.critic,
                "approved": bool(verdict and verdict.approved), "status": record.status,
                "issues": verdict.issues if verdict else [],
                "checklist": [r.model_dump(mode="json", include={"id", "text", "status", "evidence", "checker"})
                              for r in items]}},
        ],
    }


def signed(path: Path) -> bool:
    """Whether the file already carries one of our manifests (a resumed run is not signed twice)."""
    import c2pa
    try:
        with c2pa.Reader(str(path)) as reader:
            store = json.loads(reader.json())
    except Exception:
        return False
    active = store.get("manifests", {}).get(store.get("active_manifest") or "", {})
    return any(a.get("label") == VERDICT_LABEL for a in active.get("assertions", []))


def sign_delivered(record: RunRecord) -> Path | None:
    """Sign the run's best image in place (its sha256 updated in `record`; the caller saves it).
    Returns the signed file, or None when there is no image to sign. Raises ConfigError naming what
    is missing (the c2pa package, the operator's certificate files)."""
    best = record.best
    if best is None or best.artifact.path.suffix.lower() not in SIGNABLE:
        return None
    try:
        import c2pa
    except ImportError:
        raise ConfigError("content credentials need c2pa-python: pip install 'atelier[credentials]' "
                          "(or pass --no-credentials)") from None
    path = best.artifact.path
    if signed(path):
        return path
    chain, key, alg = signing_material()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=alg.encode(), sign_cert=chain, private_key=key, ta_url=None))
    part = path.with_name(f".{path.name}.signing")
    try:
        with signer, c2pa.Builder(json.dumps(manifest(record, best))) as builder, \
                open(path, "rb") as source, open(part, "w+b") as dest:
            builder.sign(signer, SIGNABLE[path.suffix.lower()], source, dest)
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    old, best.artifact.sha256 = best.artifact.sha256, Artifact.digest(path)
    for attempt in record.attempts:  # an edit made from it still names its source
        if attempt.artifact.parent == old:
            attempt.artifact.parent = best.artifact.sha256
    return path


def credential_run(record: RunRecord, store) -> str:
    """Sign the run's delivered image and save the record; one line saying what happened (never
    raises: a run is not undone because its image could not be signed)."""
    if record.status in ("failed", "running"):
        return f"not signed: the run {'failed' if record.status == 'failed' else 'is still running'}"
    try:
        path = sign_delivered(record)
    except ConfigError as e:
        return f"not signed: {e}"
    except Exception as e:  # the C2PA library's own errors name the problem
        return f"not signed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    if path is None:
        return "not signed: the run delivered no image"
    try:
        store.save(record)
    except Exception as e:  # a full disk: the image is signed, its record keeps the old digest
        return f"signed {path.name}, but its record could not be updated: {e}"
    who = "the operator's certificate" if os.environ.get(CERT_ENV) else "the local certificate"
    return f"signed: {path.name} carries a C2PA manifest (trainedAlgorithmicMedia, the verdict), by {who}"
