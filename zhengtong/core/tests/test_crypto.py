"""The crypto suites' hashes, keyed hashes and signatures: SHA-256 / HMAC-SHA256 / Ed25519 (intl) and
SM3 / HMAC-SM3 / SM2 (gm), and the signing keys kept in files.

Expected values come from outside the code under test:

- SM3("abc") is the example in GB/T 32905-2016 Appendix A.1.
- HMAC-SHA256 is checked against Python's `hmac`/`hashlib` and RFC 4231 test case 2; HMAC-SM3 against the
  RFC 2104 construction over gmssl's own pure-Python SM3.
- SM2 signatures are checked with gmssl's verifier directly, and with OpenSSL (when its SM2 is available) in both
  directions; SM2 public keys with the curve's generator G (1·G) and its negation ((n-1)·G).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from gmssl import sm2, sm3
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from zhengtong.core import crypto

SUITES = ["intl", "gm"]
ALGORITHMS = {"intl": "ed25519", "gm": "sm2"}

SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
SM2_G = (
    "32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7"
    "bc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0"
)
SM2_P = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF", 16)
SM2_N = int("FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123", 16)


@pytest.fixture(autouse=True)
def fresh_cache():
    crypto.clear_signer_cache()
    yield
    crypto.clear_signer_cache()


def flip_bit(data: bytes, index: int = 0, bit: int = 0) -> bytes:
    changed = bytearray(data)
    changed[index] ^= 1 << bit
    return bytes(changed)


def openssl_has_sm2() -> bool:
    if shutil.which("openssl") is None:
        return False
    result = subprocess.run(["openssl", "list", "-public-key-algorithms"], capture_output=True, text=True)
    return result.returncode == 0 and "SM2" in result.stdout


# Hashes and keyed hashes -------------------------------------------------------------------------------------------


def test_sm3_of_abc_is_the_gbt_32905_example():
    assert crypto.digest(b"abc", "gm").hex() == SM3_ABC
    assert crypto.digest_named(b"abc", "sm3").hex() == SM3_ABC


def test_sha256_digest_matches_hashlib():
    assert crypto.digest(b"abc", "intl") == hashlib.sha256(b"abc").digest()
    assert crypto.digest_named(b"abc", "sha256") == hashlib.sha256(b"abc").digest()


def test_hmac_sha256_matches_the_standard_library_and_rfc_4231():
    key, data = b"k" * 40, "政通 audit entry".encode()
    assert crypto.hmac_digest(key, data, "intl") == hmac.new(key, data, hashlib.sha256).digest()
    # RFC 4231 test case 2
    assert crypto.hmac_digest(b"Jefe", b"what do ya want for nothing?", "intl").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def _hmac_sm3_by_hand(key: bytes, data: bytes) -> bytes:
    """RFC 2104 over gmssl's SM3 (block size 64 bytes), independent of `cryptography`."""

    def sm3_bytes(message: bytes) -> bytes:
        return bytes.fromhex(sm3.sm3_hash(list(message)))

    if len(key) > 64:
        key = sm3_bytes(key)
    key = key.ljust(64, b"\0")
    inner = sm3_bytes(bytes(b ^ 0x36 for b in key) + data)
    return sm3_bytes(bytes(b ^ 0x5C for b in key) + inner)


@pytest.mark.parametrize("key", [b"", b"short key", b"x" * 64, b"y" * 100])
def test_hmac_sm3_matches_an_independent_rfc_2104_computation(key):
    data = "一网通办 request 12345".encode()
    assert crypto.hmac_digest(key, data, "gm") == _hmac_sm3_by_hand(key, data)


def test_hmac_differs_between_suites_and_follows_the_configured_suite(settings):
    key, data = b"secret", b"payload"
    intl, gm = crypto.hmac_digest(key, data, "intl"), crypto.hmac_digest(key, data, "gm")
    assert intl != gm
    assert len(intl) == len(gm) == 32
    settings.CRYPTO_SUITE = "gm"
    assert crypto.hmac_digest(key, data) == gm
    settings.CRYPTO_SUITE = "intl"
    assert crypto.hmac_digest(key, data) == intl


@pytest.mark.parametrize("suite_name", SUITES)
def test_hmac_matches_accepts_only_the_right_mac(suite_name):
    mac = crypto.hmac_digest(b"key", b"data", suite_name)
    assert crypto.hmac_matches(b"key", b"data", mac, suite_name)
    assert not crypto.hmac_matches(b"key", b"data", flip_bit(mac), suite_name)
    assert not crypto.hmac_matches(b"other key", b"data", mac, suite_name)


# Signatures --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", SUITES)
def test_sign_and_verify_round_trip(suite_name, tmp_path):
    signer = crypto.load_signer(suite_name, tmp_path / "keys")
    assert signer.algorithm == ALGORITHMS[suite_name]
    assert signer.suite == suite_name
    assert len(signer.public_key) == (32 if suite_name == "intl" else 64)
    for message in [b"", b"abc", "政务数据共享".encode() * 100]:
        signature = signer.sign(message)
        assert len(signature) == 64
        assert crypto.verify_signature(signer.algorithm, signer.public_key, message, signature)


@pytest.mark.parametrize("suite_name", SUITES)
def test_a_flipped_bit_in_message_or_signature_fails(suite_name, tmp_path):
    signer = crypto.load_signer(suite_name, tmp_path)
    message = b"signed tree head 42"
    signature = signer.sign(message)
    for index, bit in [(0, 0), (5, 3), (len(message) - 1, 7)]:
        assert not crypto.verify_signature(
            signer.algorithm, signer.public_key, flip_bit(message, index, bit), signature
        )
    for index, bit in [(0, 0), (31, 7), (32, 0), (63, 7)]:
        assert not crypto.verify_signature(
            signer.algorithm, signer.public_key, message, flip_bit(signature, index, bit)
        )


@pytest.mark.parametrize("suite_name", SUITES)
def test_another_keys_signature_fails(suite_name, tmp_path):
    ours = crypto.load_signer(suite_name, tmp_path / "ours")
    theirs = crypto.load_signer(suite_name, tmp_path / "theirs")
    assert ours.key_id != theirs.key_id
    message = b"request"
    assert not crypto.verify_signature(ours.algorithm, ours.public_key, message, theirs.sign(message))
    assert crypto.verify_signature(theirs.algorithm, theirs.public_key, message, theirs.sign(message))


def test_a_signature_of_one_algorithm_does_not_verify_as_the_other(tmp_path):
    ed = crypto.load_signer("intl", tmp_path)
    gm = crypto.load_signer("gm", tmp_path)
    assert not crypto.verify_signature("sm2", gm.public_key, b"m", ed.sign(b"m"))
    assert not crypto.verify_signature("ed25519", ed.public_key, b"m", gm.sign(b"m"))


def test_sm2_signatures_are_randomised_and_all_verify(tmp_path):
    signer = crypto.load_signer("gm", tmp_path)
    signatures = {signer.sign(b"same message") for _ in range(5)}
    assert len(signatures) == 5
    assert all(crypto.verify_signature("sm2", signer.public_key, b"same message", s) for s in signatures)


def test_sm2_signature_verifies_with_gmssl_itself(tmp_path):
    signer = crypto.load_signer("gm", tmp_path)
    message = "跨省通办 signed request".encode()
    signature = signer.sign(message)
    verifier = sm2.CryptSM2(private_key="", public_key=signer.public_key.hex())
    verifier.public_key = signer.public_key.hex()
    assert verifier.verify_with_sm3(signature.hex(), message)
    assert not verifier.verify_with_sm3(signature.hex(), message + b"!")


def test_sm2_public_key_is_d_times_g():
    """1·G is the generator itself and (n-1)·G is its negation (same x, y = p - y)."""
    assert crypto._sm2_public_key(1).hex() == SM2_G
    minus_g = crypto._sm2_public_key(SM2_N - 1)
    assert minus_g[:32].hex() == SM2_G[:64]
    assert int.from_bytes(minus_g[32:], "big") == SM2_P - int(SM2_G[64:], 16)


def test_sm2_key_starting_with_04_still_verifies():
    """gmssl's CryptSM2 lstrip("04")s a public key; x||y beginning 04 04 must not be mangled."""
    signer = crypto.SM2Signer(307)
    assert signer.public_key.hex().startswith("0404")
    assert sm2.CryptSM2(private_key="", public_key=signer.public_key.hex()).public_key != signer.public_key.hex()
    signature = signer.sign(b"m")
    assert crypto.verify_signature("sm2", signer.public_key, b"m", signature)
    assert not crypto.verify_signature("sm2", signer.public_key, b"n", signature)


@pytest.mark.parametrize("suite_name", SUITES)
def test_malformed_keys_and_signatures_are_false_not_errors(suite_name, tmp_path):
    signer = crypto.load_signer(suite_name, tmp_path)
    algorithm, key, message = signer.algorithm, signer.public_key, b"m"
    signature = signer.sign(message)
    bad_cases = [
        (algorithm, key, message, b""),
        (algorithm, key, message, signature[:-1]),
        (algorithm, key, message, signature + b"\0"),
        (algorithm, key, message, b"\0" * 64),
        (algorithm, key, message, b"\xff" * 64),
        (algorithm, b"", message, signature),
        (algorithm, key[:-1], message, signature),
        (algorithm, key + b"\0", message, signature),
        (algorithm, b"\0" * len(key), message, signature),
        (algorithm, b"\xff" * len(key), message, signature),
        (algorithm, None, message, signature),
        (algorithm, key, None, signature),
        (algorithm, key, message, None),
        (algorithm, key.hex(), message, signature.hex()),
        ("rsa", key, message, signature),
        ("", key, message, signature),
    ]
    for case in bad_cases:
        assert crypto.verify_signature(*case) is False, case


_GM_SIGNER = crypto.SM2Signer(12345)
_ED_SIGNER = crypto.Ed25519Signer(crypto.Ed25519PrivateKey.from_private_bytes(b"\x07" * 32))


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    algorithm=st.sampled_from(["sm2", "ed25519", "SM2", "x"]),
    real_key=st.booleans(),
    public_key=st.binary(max_size=70),
    message=st.binary(max_size=40),
    signature=st.binary(min_size=60, max_size=66),
)
def test_verification_of_arbitrary_bytes_is_false_never_an_error(algorithm, real_key, public_key, message, signature):
    if real_key:
        public_key = (_GM_SIGNER if algorithm == "sm2" else _ED_SIGNER).public_key
    assert crypto.verify_signature(algorithm, public_key, message, signature) is False


def test_sm2_rejects_points_off_the_curve_and_out_of_range_r_s(tmp_path):
    signer = crypto.load_signer("gm", tmp_path)
    signature = signer.sign(b"m")
    off_curve = signer.public_key[:32] + flip_bit(signer.public_key[32:], 31, 0)
    assert not crypto.verify_signature("sm2", off_curve, b"m", signature)
    r, s = signature[:32], signature[32:]
    n = SM2_N.to_bytes(32, "big")
    for bad in [b"\0" * 32 + s, r + b"\0" * 32, n + s, r + n]:
        assert not crypto.verify_signature("sm2", signer.public_key, b"m", bad)


# Key files ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("suite_name", SUITES)
def test_keys_persist_across_loads(suite_name, tmp_path):
    directory = tmp_path / "keys"
    first = crypto.load_signer(suite_name, directory)
    assert crypto.load_signer(suite_name, directory) is first  # cached
    crypto.clear_signer_cache()
    second = crypto.load_signer(suite_name, directory)
    assert second is not first
    assert second.key_id == first.key_id
    assert second.public_key == first.public_key
    message = b"signed before, verified after a restart"
    assert crypto.verify_signature(second.algorithm, first.public_key, message, second.sign(message))


@pytest.mark.parametrize("suite_name", SUITES)
def test_key_files_are_owner_only(suite_name, tmp_path):
    directory = tmp_path / "var" / "keys"
    old_umask = os.umask(0)  # even a permissive umask must not open the key up
    try:
        signer = crypto.load_signer(suite_name, directory)
    finally:
        os.umask(old_umask)
    assert signer.path == directory / f"signing-{signer.algorithm}.pem"
    assert stat.S_IMODE(signer.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [p.name for p in directory.iterdir()] == [signer.path.name]  # no temporary file left behind
    assert signer.path.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")


def test_an_open_key_directory_is_tightened(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o755)
    directory.chmod(0o755)
    crypto.load_signer("intl", directory)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_default_directory_is_var_dir_keys_and_suite_comes_from_settings(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    settings.CRYPTO_SUITE = "gm"
    signer = crypto.load_signer()
    assert signer.algorithm == "sm2"
    assert signer.path == tmp_path / "keys" / "signing-sm2.pem"
    settings.CRYPTO_SUITE = "intl"
    assert crypto.load_signer().algorithm == "ed25519"
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["signing-ed25519.pem", "signing-sm2.pem"]


@pytest.mark.parametrize("suite_name", SUITES)
def test_losing_the_creation_race_uses_the_winners_key(suite_name: str, tmp_path: Path, monkeypatch) -> None:
    directory = tmp_path / "keys"
    algorithm = ALGORITHMS[suite_name]
    winner_pem = crypto.generate_private_key_pem(algorithm)
    winner = crypto.signer_from_pem(algorithm, winner_pem)
    real_generate = crypto.generate_private_key_pem

    def generate_while_another_process_publishes(name: str) -> str:
        # Another process creates the key file after our existence check, before we publish ours.
        directory.mkdir(mode=0o700, exist_ok=True)
        crypto.key_path(name, directory).write_text(winner_pem)
        return real_generate(name)

    monkeypatch.setattr(crypto, "generate_private_key_pem", generate_while_another_process_publishes)
    signer = crypto.load_signer(suite_name, directory)
    assert signer.key_id == winner.key_id
    assert crypto.key_path(algorithm, directory).read_text() == winner_pem
    assert [p.name for p in directory.iterdir()] == [f"signing-{algorithm}.pem"]


@pytest.mark.parametrize("suite_name", SUITES)
def test_concurrent_first_use_agrees_on_one_key(suite_name: str, tmp_path: Path) -> None:
    directory = tmp_path / "keys"
    algorithm = ALGORITHMS[suite_name]
    barrier = threading.Barrier(8)
    results: list[crypto.Signer] = []

    def create() -> None:
        barrier.wait()
        results.append(crypto._load_or_create(algorithm, directory))  # bypasses the cache's lock on purpose

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 8
    assert len({signer.key_id for signer in results}) == 1
    assert [p.name for p in directory.iterdir()] == [f"signing-{algorithm}.pem"]


@pytest.mark.parametrize("suite_name", SUITES)
def test_a_corrupt_key_file_is_a_clear_configuration_error(suite_name, tmp_path):
    algorithm = ALGORITHMS[suite_name]
    other = "sm2" if algorithm == "ed25519" else "ed25519"
    path = crypto.key_path(algorithm, tmp_path)
    path.write_text(crypto.generate_private_key_pem(other))  # a key of the other algorithm
    with pytest.raises(ImproperlyConfigured, match=str(path)):
        crypto.load_signer(suite_name, tmp_path)
    path.write_text("not a key")
    with pytest.raises(ImproperlyConfigured, match=algorithm):
        crypto.load_signer(suite_name, tmp_path)


def test_an_sm2_key_whose_stored_public_key_is_not_its_own_is_refused():
    pem = crypto._sm2_private_key_pem(5, crypto._sm2_public_key(6))
    with pytest.raises(ValueError, match="does not belong"):
        crypto.signer_from_pem("sm2", pem)


def test_unknown_suite_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown crypto suite"):
        crypto.load_signer("rot13", tmp_path)


# Publishing --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("suite_name", "hash_function"), [("intl", hashlib.sha256), ("gm", None)])
def test_export_public_key(suite_name, hash_function, tmp_path):
    signer = crypto.load_signer(suite_name, tmp_path)
    exported = crypto.export_public_key(signer)
    assert exported["algorithm"] == signer.algorithm
    assert bytes.fromhex(exported["public_key"]) == signer.public_key
    if hash_function is not None:
        expected_id = hash_function(signer.public_key).hexdigest()[:32]
    else:
        expected_id = sm3.sm3_hash(list(signer.public_key))[:32]
    assert exported["key_id"] == signer.key_id == expected_id
    assert exported["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----\n")
    assert "BEGIN PRIVATE" not in repr(exported) + repr(signer)


def test_ed25519_published_pem_loads_with_cryptography(tmp_path):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    signer = crypto.load_signer("intl", tmp_path)
    key = load_pem_public_key(crypto.export_public_key(signer)["public_key_pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    key.verify(signer.sign(b"m"), b"m")


@pytest.mark.skipif(not openssl_has_sm2(), reason="this OpenSSL has no SM2")
def test_sm2_interoperates_with_openssl(tmp_path):
    """OpenSSL verifies our SM2 signature (default ID 1234567812345678, DER r,s), derives the same public key from
    our key file, and signs with it in a way we verify."""
    signer = crypto.load_signer("gm", tmp_path / "keys")
    message = "国密 SM2 with SM3".encode()
    (tmp_path / "message").write_bytes(message)
    (tmp_path / "public.pem").write_text(crypto.export_public_key(signer)["public_key_pem"])
    (tmp_path / "signature.der").write_bytes(crypto.signature_to_der("sm2", signer.sign(message)))
    sm2_options = ["-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678"]

    verified = subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            tmp_path / "public.pem",
            *sm2_options,
            "-in",
            tmp_path / "message",
            "-sigfile",
            tmp_path / "signature.der",
        ],
        capture_output=True,
        text=True,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr

    derived = subprocess.run(["openssl", "pkey", "-in", signer.path, "-pubout"], capture_output=True, text=True)
    assert derived.stdout == crypto.export_public_key(signer)["public_key_pem"]

    subprocess.run(
        [
            "openssl",
            "pkeyutl",
            "-sign",
            "-inkey",
            signer.path,
            *sm2_options,
            "-in",
            tmp_path / "message",
            "-out",
            tmp_path / "openssl.der",
        ],
        check=True,
        capture_output=True,
    )
    der = (tmp_path / "openssl.der").read_bytes()
    from Cryptodome.Util.asn1 import DerSequence

    r, s = DerSequence().decode(der)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert crypto.verify_signature("sm2", signer.public_key, message, raw)
    assert not crypto.verify_signature("sm2", signer.public_key, message + b"x", raw)


@pytest.mark.skipif(not openssl_has_sm2(), reason="this OpenSSL has no SM2")
def test_an_openssl_generated_sm2_key_can_be_used(tmp_path):
    directory = tmp_path / "keys"
    directory.mkdir(mode=0o700)
    path = crypto.key_path("sm2", directory)
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", path], check=True, capture_output=True)
    path.chmod(0o600)
    signer = crypto.load_signer("gm", directory)
    public = subprocess.run(["openssl", "pkey", "-in", path, "-pubout"], capture_output=True, text=True, check=True)
    assert public.stdout == crypto.export_public_key(signer)["public_key_pem"]
    assert crypto.verify_signature("sm2", signer.public_key, b"m", signer.sign(b"m"))


def test_signature_to_der_only_for_sm2():
    with pytest.raises(ValueError):
        crypto.signature_to_der("ed25519", b"\0" * 64)
    assert isinstance(crypto.signature_to_der("sm2", b"\1" * 64), bytes)
