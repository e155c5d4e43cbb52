"""The crypto suite chosen by ZHENGTONG_CRYPTO_SUITE: `intl` (SHA-256, HMAC-SHA256, Ed25519, AES-256-GCM) or `gm`
(国密: SM3, HMAC-SM3, SM2, SM4-GCM).

Hashes and keyed hashes come from `cryptography`. Signatures are Ed25519 (`cryptography`) or SM2 with SM3 and
the default user ID 1234567812345678 (GB/T 32918, GM/T 0009), computed with `gmssl`. The signing keys live in
files under `VAR_DIR/keys` (directory 0700, files 0600), as unencrypted PKCS#8 PEM for both algorithms, so
that operators can inspect them or swap them with standard tools (`openssl pkey -in signing-sm2.pem`).

Signatures travel as raw bytes: 64 bytes for both algorithms (Ed25519 R||S; SM2 r||s, each 32 bytes big-endian).
Public keys are raw too: 32 bytes for Ed25519, 64 bytes x||y for SM2 (the uncompressed point without its 04).
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import os
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import structlog
from Cryptodome.IO import PEM
from Cryptodome.Util.asn1 import DerBitString, DerInteger, DerObjectId, DerOctetString, DerSequence
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives import hmac as crypto_hmac
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from gmssl import sm2

log = structlog.get_logger("zhengtong.crypto")

HASHES: dict[str, type[hashes.HashAlgorithm]] = {"intl": hashes.SHA256, "gm": hashes.SM3}
HASH_NAMES = {"intl": "sha256", "gm": "sm3"}
SIGNATURE_ALGORITHMS = {"intl": "ed25519", "gm": "sm2"}
SUITE_OF_ALGORITHM = {value: key for key, value in SIGNATURE_ALGORITHMS.items()}


def suite() -> str:
    return str(settings.CRYPTO_SUITE)


def hash_name(suite_name: str | None = None) -> str:
    return HASH_NAMES[suite_name or suite()]


def digest(data: bytes, suite_name: str | None = None) -> bytes:
    """The suite's hash of `data`: SHA-256 for intl, SM3 for gm (both 32 bytes)."""
    name = suite_name or suite()
    if name == "intl":
        # The same SHA-256, several times cheaper per call through hashlib; the audit tree hashes millions.
        return hashlib.sha256(data).digest()
    hasher = hashes.Hash(HASHES[name]())
    hasher.update(data)
    return hasher.finalize()


SUITE_OF_HASH = {value: key for key, value in HASH_NAMES.items()}


def digest_named(data: bytes, name: str) -> bytes:
    """Hash with the algorithm named as stored beside a value (so values survive a change of suite)."""
    return digest(data, SUITE_OF_HASH[name])


# Keyed hashes ---------------------------------------------------------------------------------------------------


def hmac_digest(key: bytes, data: bytes, suite_name: str | None = None) -> bytes:
    """The suite's keyed hash of `data`: HMAC-SHA256 for intl, HMAC-SM3 for gm (both 32 bytes)."""
    mac = crypto_hmac.HMAC(key, HASHES[suite_name or suite()]())
    mac.update(data)
    return mac.finalize()


def hmac_matches(key: bytes, data: bytes, expected: bytes, suite_name: str | None = None) -> bool:
    """Whether `expected` is the suite's HMAC of `data`, compared in constant time."""
    return std_hmac.compare_digest(hmac_digest(key, data, suite_name), expected)


# SM2 arithmetic on gmssl's curve table ----------------------------------------------------------------------------

_SM2_TABLE: dict[str, str] = sm2.default_ecc_table
SM2_N = int(_SM2_TABLE["n"], 16)
SM2_P = int(_SM2_TABLE["p"], 16)
SM2_A = int(_SM2_TABLE["a"], 16)
SM2_B = int(_SM2_TABLE["b"], 16)

_OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_OID_SM2 = "1.2.156.10197.1.301"
_OID_ED25519 = "1.3.101.112"


def _sm2(public_key_hex: str, private_key_hex: str = "") -> Any:
    crypt = sm2.CryptSM2(private_key=private_key_hex, public_key=public_key_hex)
    # CryptSM2 strips a leading "04" with str.lstrip, which also eats any further 0s and 4s of x: set it directly.
    crypt.public_key = public_key_hex
    return crypt


def _sm2_public_key(private_key: int) -> bytes:
    point = _sm2("")._kg(private_key, _SM2_TABLE["g"])
    return bytes.fromhex(point)


def _sm2_on_curve(public_key: bytes) -> bool:
    if len(public_key) != 64:
        return False
    x = int.from_bytes(public_key[:32], "big")
    y = int.from_bytes(public_key[32:], "big")
    if x >= SM2_P or y >= SM2_P:
        return False
    # The SM2 curve has cofactor 1, so every affine point on it is in the group of order n; b != 0 keeps (0, 0) off.
    return (y * y - (x * x * x + SM2_A * x + SM2_B)) % SM2_P == 0


def _sm2_private_key_pem(private_key: int, public_key: bytes) -> str:
    """PKCS#8 with an RFC 5915 ECPrivateKey inside (public key included): what `openssl genpkey -algorithm SM2`
    writes."""
    ec_private_key = DerSequence(
        [1, DerOctetString(private_key.to_bytes(32, "big")), DerBitString(b"\x04" + public_key, explicit=1)]
    ).encode()
    algorithm = DerSequence([DerObjectId(_OID_EC_PUBLIC_KEY), DerObjectId(_OID_SM2)])
    der = DerSequence([0, algorithm, DerOctetString(ec_private_key)]).encode()
    return str(PEM.encode(der, "PRIVATE KEY")) + "\n"


def _der_sequence(der: bytes) -> list[Any]:
    sequence: Any = DerSequence().decode(der, strict=True)
    return list(sequence)


def _read_sm2_private_key(pem: str) -> tuple[int, bytes]:
    """(d, x||y) from a PKCS#8 SM2 key; raises ValueError when it is anything else."""
    try:
        der, marker, _encrypted = PEM.decode(pem)
        if marker != "PRIVATE KEY":
            raise ValueError(f"expected an unencrypted PKCS#8 PRIVATE KEY, found {marker}")
        outer = _der_sequence(der)
        if len(outer) < 3 or outer[0] != 0:
            raise ValueError("not a PKCS#8 version 0 structure")
        oids = [DerObjectId().decode(item, strict=True).value for item in _der_sequence(outer[1])]
        if oids != [_OID_EC_PUBLIC_KEY, _OID_SM2]:
            raise ValueError(f"not an SM2 key (algorithm {oids})")
        ec_private_key = _der_sequence(DerOctetString().decode(outer[2], strict=True).payload)
        if len(ec_private_key) < 2 or ec_private_key[0] != 1:
            raise ValueError("not an ECPrivateKey version 1 structure")
        private_key = int.from_bytes(DerOctetString().decode(ec_private_key[1], strict=True).payload, "big")
        stored_public_keys = [
            DerBitString(explicit=1).decode(item, strict=True).value
            for item in ec_private_key[2:]
            if item[:1] == b"\xa1"  # [1] publicKey
        ]
    except (IndexError, TypeError, KeyError, EOFError) as error:
        raise ValueError(f"malformed PKCS#8 key ({error!r})") from error
    if not 1 <= private_key <= SM2_N - 2:
        raise ValueError("the SM2 private key is out of range [1, n-2]")
    public_key = _sm2_public_key(private_key)
    if any(stored != b"\x04" + public_key for stored in stored_public_keys):
        raise ValueError("the stored SM2 public key does not belong to the private key")
    return private_key, public_key


# Signers ---------------------------------------------------------------------------------------------------------


def key_id_for(algorithm: str, public_key: bytes) -> str:
    """The key's identifier: the first 16 bytes of the algorithm's suite hash of the raw public key, in hex."""
    return digest(public_key, SUITE_OF_ALGORITHM[algorithm])[:16].hex()


class Signer:
    """A signing key of one algorithm ("ed25519" or "sm2"). Get one with `load_signer`."""

    algorithm: str = ""

    def __init__(self, public_key: bytes, path: Path | None = None):
        self.public_key = public_key
        self.key_id = key_id_for(self.algorithm, public_key)
        self.path = path

    @property
    def suite(self) -> str:
        return SUITE_OF_ALGORITHM[self.algorithm]

    def sign(self, message: bytes) -> bytes:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<Signer {self.algorithm} {self.key_id}>"


class Ed25519Signer(Signer):
    algorithm = "ed25519"

    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None):
        self._private_key = private_key
        raw = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        super().__init__(raw, path)

    def sign(self, message: bytes) -> bytes:
        return self._private_key.sign(message)


class SM2Signer(Signer):
    algorithm = "sm2"

    def __init__(self, private_key: int, path: Path | None = None):
        if not 1 <= private_key <= SM2_N - 2:
            raise ValueError("the SM2 private key is out of range [1, n-2]")
        public_key = _sm2_public_key(private_key)
        self._crypt = _sm2(public_key.hex(), f"{private_key:064x}")
        super().__init__(public_key, path)

    def sign(self, message: bytes) -> bytes:
        while True:
            k = secrets.randbelow(SM2_N - 1) + 1  # 1 <= k <= n-1, never gmssl's own `random` choice
            signature = self._crypt.sign_with_sm3(message, f"{k:064x}")
            if signature is not None:  # None when r = 0, r + k = n or s = 0: draw another k
                return bytes.fromhex(signature)


def generate_private_key_pem(algorithm: str) -> str:
    """A fresh private key of `algorithm` as unencrypted PKCS#8 PEM."""
    if algorithm == "ed25519":
        return (
            Ed25519PrivateKey.generate()
            .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            .decode()
        )
    if algorithm == "sm2":
        private_key = secrets.randbelow(SM2_N - 2) + 1  # 1 <= d <= n-2 (GB/T 32918.1 §6.1: d + 1 must be invertible)
        return _sm2_private_key_pem(private_key, _sm2_public_key(private_key))
    raise ValueError(f"unknown signature algorithm {algorithm!r}")


def signer_from_pem(algorithm: str, pem: str, path: Path | None = None) -> Signer:
    """The signer for a PKCS#8 PEM private key; raises ValueError when the text is not such a key."""
    if algorithm == "ed25519":
        try:
            private_key = serialization.load_pem_private_key(pem.encode(), password=None)
        except UnsupportedAlgorithm as error:
            raise ValueError(str(error)) from error
        if not isinstance(private_key, Ed25519PrivateKey):
            raise ValueError(f"not an Ed25519 key ({type(private_key).__name__})")
        return Ed25519Signer(private_key, path)
    if algorithm == "sm2":
        private_key_int, _public_key = _read_sm2_private_key(pem)
        return SM2Signer(private_key_int, path)
    raise ValueError(f"unknown signature algorithm {algorithm!r}")


def key_directory() -> Path:
    return Path(settings.VAR_DIR) / "keys"


def key_path(algorithm: str, directory: Path | None = None) -> Path:
    return (directory or key_directory()) / f"signing-{algorithm}.pem"


_signers: dict[tuple[str, str], Signer] = {}
_signers_lock = threading.Lock()


def load_signer(suite_name: str | None = None, directory: Path | None = None) -> Signer:
    """The suite's signing key in `directory` (default `VAR_DIR/keys`), created there on first use.

    Several processes may start at once: each writes a complete key to a private temporary file and publishes
    it with an exclusive link, so exactly one key wins and everyone reads the winner's file.
    """
    suite_name = suite_name or suite()
    if suite_name not in SIGNATURE_ALGORITHMS:
        raise ValueError(f"unknown crypto suite {suite_name!r}")
    directory = Path(directory) if directory is not None else key_directory()
    cache_key = (suite_name, str(directory.resolve()))
    with _signers_lock:
        signer = _signers.get(cache_key)
        if signer is None:
            signer = _load_or_create(SIGNATURE_ALGORITHMS[suite_name], directory)
            _signers[cache_key] = signer
        return signer


def clear_signer_cache() -> None:
    with _signers_lock:
        _signers.clear()


def platform_signers() -> list[Signer]:
    """The platform's own signing keys whose files exist in the key directory, one per suite. Never creates a
    key; an unreadable key file is logged and left out. These are the trust anchor outside the database."""
    signers: list[Signer] = []
    for suite_name, algorithm in SIGNATURE_ALGORITHMS.items():
        if not key_path(algorithm).is_file():
            continue
        try:
            signers.append(load_signer(suite_name))
        except (ImproperlyConfigured, ValueError, OSError) as error:
            log.warning("signing key unreadable", algorithm=algorithm, error=str(error))
    return signers


def _ensure_directory(directory: Path) -> None:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if directory.stat().st_mode & 0o077:
        try:
            directory.chmod(0o700)
        except OSError:
            log.warning("key_directory_open_to_others", path=str(directory))


def _read_key_file(algorithm: str, path: Path, attempts: int = 1) -> Signer:
    for attempt in range(attempts):
        try:
            signer = signer_from_pem(algorithm, path.read_text(encoding="ascii"), path)
            break
        except (ValueError, TypeError, UnicodeDecodeError) as error:
            if attempt + 1 >= attempts:
                raise ImproperlyConfigured(
                    f"signing key {path} is not a {algorithm} PKCS#8 PEM key: {error}"
                ) from error
            time.sleep(0.05)  # another process may still be writing it (only without hard links)
    if path.stat().st_mode & 0o077:
        log.warning("signing_key_open_to_others", path=str(path), mode=oct(path.stat().st_mode & 0o777))
    return signer


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(descriptor, 0o600)  # whatever the umask
        os.write(descriptor, text.encode("ascii"))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _load_or_create(algorithm: str, directory: Path) -> Signer:
    path = key_path(algorithm, directory)
    if path.exists():
        return _read_key_file(algorithm, path)
    _ensure_directory(directory)
    pem = generate_private_key_pem(algorithm)
    temporary = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    _write_private(temporary, pem)
    try:
        os.link(temporary, path)  # atomic and exclusive: the file appears complete, or not at all
    except FileExistsError:
        pass  # another process won the race: use its key
    except OSError:
        # A file system without hard links: create the key file itself exclusively.
        try:
            _write_private(path, pem)
        except FileExistsError:
            return _read_key_file(algorithm, path, attempts=40)
    finally:
        temporary.unlink(missing_ok=True)
    return _read_key_file(algorithm, path)


# Verification and publishing --------------------------------------------------------------------------------------


def verify_signature(algorithm: str, public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `algorithm`'s signature of `message` under the raw `public_key`.

    Returns False, never raises, for a bad signature, a malformed key or signature, or an unknown algorithm.
    """
    try:
        if algorithm == "ed25519":
            if len(public_key) != 32 or len(signature) != 64:
                return False
            Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(bytes(signature), bytes(message))
            return True
        if algorithm == "sm2":
            if len(signature) != 64 or not _sm2_on_curve(public_key):
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (1 <= r < SM2_N and 1 <= s < SM2_N):  # GB/T 32918.2 §7.1 B1, B2 (gmssl does not check)
                return False
            return bool(_sm2(bytes(public_key).hex()).verify_with_sm3(bytes(signature).hex(), bytes(message)))
    except (InvalidSignature, ValueError, TypeError, IndexError, AttributeError):
        return False
    return False


def public_key_pem(algorithm: str, public_key: bytes) -> str:
    """The raw public key as SubjectPublicKeyInfo PEM, for `openssl pkeyutl -verify -pubin` and similar tools."""
    if algorithm == "ed25519":
        return (
            Ed25519PublicKey.from_public_bytes(public_key)
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )
    if algorithm == "sm2":
        if not _sm2_on_curve(public_key):
            raise ValueError("not an SM2 public key (64 bytes x||y of a point on the curve)")
        algorithm_id = DerSequence([DerObjectId(_OID_EC_PUBLIC_KEY), DerObjectId(_OID_SM2)])
        der = DerSequence([algorithm_id, DerBitString(b"\x04" + public_key)]).encode()
        return str(PEM.encode(der, "PUBLIC KEY")) + "\n"
    raise ValueError(f"unknown signature algorithm {algorithm!r}")


def signature_to_der(algorithm: str, signature: bytes) -> bytes:
    """An SM2 r||s signature as the DER SEQUENCE of two INTEGERs that OpenSSL and most 国密 tools exchange."""
    if algorithm != "sm2" or len(signature) != 64:
        raise ValueError("only 64-byte SM2 signatures have a DER form")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    return bytes(DerSequence([DerInteger(r), DerInteger(s)]).encode())


def export_public_key(signer: Signer) -> dict[str, str]:
    """What to publish so others can verify: algorithm, key id, raw public key in hex, and the same as PEM."""
    return {
        "algorithm": signer.algorithm,
        "key_id": signer.key_id,
        "public_key": signer.public_key.hex(),
        "public_key_pem": public_key_pem(signer.algorithm, signer.public_key),
    }


# Authenticated encryption ----------------------------------------------------------------------------------------

# AES-256-GCM for intl, SM4-GCM (GB/T 32907, 128-bit key) for gm; both with 96-bit nonces and 128-bit tags.
CIPHER_NAMES = {"intl": "aes-256-gcm", "gm": "sm4-gcm"}
CIPHER_KEY_BYTES = {"aes-256-gcm": 32, "sm4-gcm": 16}
NONCE_BYTES = 12


class DecryptionFailed(ValueError):
    """The ciphertext was altered, or was sealed under another key or associated data."""


def cipher_name(suite_name: str | None = None) -> str:
    return CIPHER_NAMES[suite_name or suite()]


def new_cipher_key(cipher: str) -> bytes:
    return secrets.token_bytes(CIPHER_KEY_BYTES[cipher])


def _check_key(cipher: str, key: bytes) -> None:
    if cipher not in CIPHER_KEY_BYTES:
        raise ValueError(f"unknown cipher {cipher!r}")
    if len(key) != CIPHER_KEY_BYTES[cipher]:
        raise ValueError(f"{cipher} needs a {CIPHER_KEY_BYTES[cipher]}-byte key, got {len(key)} bytes")


class Aead:
    """One key of one cipher, ready to seal and open many values (the registries seal millions on import)."""

    def __init__(self, cipher: str, key: bytes):
        _check_key(cipher, key)
        self.cipher = cipher
        self._key = key
        self._aes = AESGCM(key) if cipher == "aes-256-gcm" else None

    def seal(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """nonce || ciphertext || tag of `plaintext`, bound to `associated_data`."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        if self._aes is not None:
            return nonce + self._aes.encrypt(nonce, plaintext, associated_data)
        encryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce)).encryptor()
        encryptor.authenticate_additional_data(associated_data)
        body = encryptor.update(plaintext) + encryptor.finalize()
        return nonce + body + encryptor.tag

    def open(self, sealed: bytes, associated_data: bytes = b"") -> bytes:
        """The plaintext of what `seal` returned; raises DecryptionFailed when anything does not match."""
        if len(sealed) < NONCE_BYTES + 16:
            raise DecryptionFailed("the ciphertext is too short")
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            if self._aes is not None:
                return self._aes.decrypt(nonce, body, associated_data)
            decryptor = Cipher(algorithms.SM4(self._key), modes.GCM(nonce, body[-16:])).decryptor()
            decryptor.authenticate_additional_data(associated_data)
            return decryptor.update(body[:-16]) + decryptor.finalize()
        except InvalidTag as error:
            raise DecryptionFailed("the ciphertext does not open under this key") from error


def seal(cipher: str, key: bytes, plaintext: bytes, associated_data: bytes = b"") -> bytes:
    """nonce || ciphertext || tag of `plaintext` under `key`, bound to `associated_data`."""
    return Aead(cipher, key).seal(plaintext, associated_data)


def open_sealed(cipher: str, key: bytes, sealed: bytes, associated_data: bytes = b"") -> bytes:
    """The plaintext of what `seal` returned; raises DecryptionFailed when anything does not match."""
    return Aead(cipher, key).open(sealed, associated_data)
