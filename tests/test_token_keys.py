"""CA keys in a real SoftHSM2 token: generated never to leave it, found again, refused with
a message for each way a token or key can be wrong, and replaced by --rekey without
anything deleted."""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pkcs11._pkcs11  # the compiled extension, named by the test below
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from pkiform.spec.model import KeySpec, KeyType
from pkiform.spec.token_uri import TokenUri, parse_token_uri
from pkiform.x509 import keys
from pkiform.x509.token_changes import generate_key, rekey
from pkiform.x509.token_errors import (
    GenerationUnsupported,
    KeyAmbiguous,
    KeyCannotSign,
    KeyExists,
    KeyInterrupted,
    KeyMismatch,
    KeyNotFound,
    KeyUnusable,
    ModuleError,
    NotExportable,
    SigningError,
    TokenLocked,
    TokenNotFound,
    WrongPin,
)
from pkiform.x509.token_keys import KeyProtection, TokenKey, check_spec, find_key, require_key
from pkiform.x509.token_recovery import Recovery, interrupted, recover, replaced_label
from pkiform.x509.token_session import TokenRun, TokenSession
from tests.helpers.run import run_python
from tests.helpers.softhsm import PIN, SoftHsm, softhsm  # noqa: F401  (a fixture

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)  # 20260602T120000Z in labels
SPECS = {
    "rsa2048": KeySpec(type=KeyType.RSA, size=2048),
    "p256": KeySpec(type=KeyType.EC, curve="P-256"),
    "p384": KeySpec(type=KeyType.EC, curve="P-384"),
    "p521": KeySpec(type=KeyType.EC, curve="P-521"),
    "ed25519": KeySpec(type=KeyType.ED25519),
    "ed448": KeySpec(type=KeyType.ED448),
}
P256 = SPECS["p256"]
A = pkcs11.Attribute


@pytest.fixture
def label(softhsm: SoftHsm, request: pytest.FixtureRequest) -> str:  # noqa: F811
    return softhsm.label(request)


@pytest.fixture
def run() -> Iterator[TokenRun]:
    with TokenRun() as opened:
        yield opened


def login(run: TokenRun, uri: TokenUri) -> TokenSession:
    return run.login(uri, PIN)


def objects_labelled(session: TokenSession, label: str) -> list[tuple[str, bytes]]:
    """(class, id) of every key object with exactly this label, sorted."""
    found = [
        (cls.name, bytes(obj[A.ID]))
        for cls in (pkcs11.ObjectClass.PRIVATE_KEY, pkcs11.ObjectClass.PUBLIC_KEY)
        for obj in session.objects(cls, label=label)
    ]
    return sorted(found)


def fresh_id() -> bytes:
    """An id no other key in the session's token has (pkiform refuses to reuse one)."""
    return os.urandom(6)


def percent(ident: bytes) -> str:
    return "".join(f"%{b:02X}" for b in ident)


# --- generation ------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(SPECS))
def test_a_generated_key_is_made_in_the_token_and_never_leaves_it(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
    name: str,
) -> None:
    uri = softhsm.uri(label)
    key = generate_key(login(run, uri), uri, SPECS[name], now=NOW)
    assert (key.label, key.spec, key.token_label) == (label, SPECS[name], "pki")
    # no id in the URI: the subject key identifier its certificates will carry
    assert key.id == x509.SubjectKeyIdentifier.from_public_key(key.public_key).digest
    assert key.protection.kept
    # what PKCS#11 itself says of the private key object
    private = key.private_object
    wanted = {
        A.TOKEN: True,
        A.PRIVATE: True,
        A.SENSITIVE: True,
        A.ALWAYS_SENSITIVE: True,
        A.EXTRACTABLE: False,
        A.NEVER_EXTRACTABLE: True,
        A.LOCAL: True,
        A.SIGN: True,
        A.DECRYPT: False,
        A.UNWRAP: False,
        A.DERIVE: False,
    }
    assert {attribute: private[attribute] for attribute in wanted} == wanted
    secret = A.PRIVATE_EXPONENT if name == "rsa2048" else A.VALUE
    with pytest.raises(pkcs11.AttributeSensitive):
        private[secret]
    with pytest.raises(pkcs11.AttributeReadOnly):
        private[A.EXTRACTABLE] = True
    # nor through the cryptography object pkiform signs with
    refusal = f"{uri.canonical}: the key '{label}' stays in the token: it cannot be exported"
    with pytest.raises(NotExportable) as caught:
        keys.to_pem(key.private_key)
    assert str(caught.value) == refusal
    if isinstance(key.private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        with pytest.raises(NotExportable):
            key.private_key.private_numbers()
    else:
        with pytest.raises(NotExportable):
            key.private_key.private_bytes_raw()


def test_finding_a_key_again_gives_the_same_key(softhsm: SoftHsm, label: str) -> None:  # noqa: F811
    uri = softhsm.uri(label, id="%C0%FF%EE")
    with TokenRun() as run:
        made = generate_key(login(run, uri), uri, P256, now=NOW)
    by_id = parse_token_uri(f"pkcs11:token=pki;id=%C0%FF%EE?module-path={softhsm.module}")
    with TokenRun() as run:
        session = login(run, uri)
        found = [find_key(session, u) for u in (uri, uri, softhsm.uri(label), by_id)]
    assert [k.public_key if k else None for k in found] == [made.public_key] * 4
    assert [(k.label, k.id, k.spec) for k in found if k] == [(label, b"\xc0\xff\xee", P256)] * 4
    # and asked to make it again, pkiform refuses rather than overwrite; nor does it give
    # a new key the id of another
    other = softhsm.uri(label + "-other", id="%C0%FF%EE")
    with TokenRun() as run:
        session = login(run, uri)
        for asked, what in [
            (uri, f"labelled '{label}'"),
            (other, f"with id %C0%FF%EE (labelled '{label}')"),
        ]:
            with pytest.raises(KeyExists) as caught:
                generate_key(session, asked, P256, now=NOW)
            assert str(caught.value) == (
                f"{asked.canonical}: token 'pki' already has a private key {what}: "
                "pkiform never overwrites a token key"
            )


def test_a_key_of_another_type_is_a_mismatch_never_a_new_key(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    key = generate_key(login(run, uri), uri, P256, now=NOW)
    check_spec(key, P256)
    with pytest.raises(KeyMismatch) as caught:
        check_spec(key, SPECS["p384"])
    assert str(caught.value) == (
        f"{uri.canonical}: the key '{label}' in token 'pki' is ec P-256; the spec says ec P-384"
    )
    assert (caught.value.found, caught.value.wanted) == (P256, SPECS["p384"])


def test_a_missing_key_is_none_or_key_not_found(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label, id="%01")
    session = login(run, uri)
    assert find_key(session, uri) is None
    with pytest.raises(KeyNotFound) as caught:
        require_key(session, uri)
    assert str(caught.value) == (
        f"{uri.canonical}: token 'pki' has no private key labelled '{label}' with id %01"
    )


def test_a_key_pkiform_makes_needs_a_label(softhsm: SoftHsm, run: TokenRun) -> None:  # noqa: F811
    uri = parse_token_uri(f"pkcs11:token=pki;id=%AB%CD%EF%01?module-path={softhsm.module}")
    for change in (generate_key, rekey):
        with pytest.raises(KeyUnusable) as caught:
            change(login(run, uri), uri, P256, now=NOW)
        assert str(caught.value) == (
            "pkcs11:token=pki;id=%AB%CD%EF%01: pkiform labels the keys it makes: "
            "add object=LABEL to the URI"
        )


def test_rsa_sizes_the_token_cannot_make_are_refused_before_anything_is_made(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    with pytest.raises(GenerationUnsupported) as caught:
        generate_key(session, uri, KeySpec(type=KeyType.RSA, size=32768), now=NOW)
    assert str(caught.value) == (
        f"{uri.canonical}: token 'pki' makes RSA keys of 512 to 16384 bits, not 32768"
    )
    assert session.objects(pkcs11.ObjectClass.PUBLIC_KEY, label=label + ".pending") == []


def test_key_protection_names_what_falls_short() -> None:
    weak = KeyProtection(
        sensitive=True,
        always_sensitive=False,
        extractable=True,
        never_extractable=False,
        local=False,
    )
    assert not weak.kept
    assert weak.problems() == [
        "CKA_ALWAYS_SENSITIVE is false",
        "CKA_EXTRACTABLE is true",
        "CKA_NEVER_EXTRACTABLE is false",
        "CKA_LOCAL is false",
    ]


# --- errors: each with its whole message ---------------------------------------------------


def test_a_module_file_that_is_missing_is_named(run: TokenRun, tmp_path: Path) -> None:
    uri = parse_token_uri(f"pkcs11:token=pki;object=ca?module-path={tmp_path}/libnone.so")
    with pytest.raises(ModuleError) as caught:
        run.login(uri, PIN)
    assert str(caught.value) == (
        f"pkcs11:token=pki;object=ca: PKCS#11 module '{tmp_path}/libnone.so' does not exist"
    )


def test_a_file_that_is_no_pkcs11_module_is_named(run: TokenRun, tmp_path: Path) -> None:
    text = tmp_path / "notes.so"
    text.write_text("not a shared library\n" * 10)
    library = pkcs11._pkcs11.__file__  # a shared library, without C_GetFunctionList
    for path, why in [
        (tmp_path, f"PKCS#11 module '{tmp_path}' is a directory, not a file"),
        (text, f"'{text}' is not a PKCS#11 module ({text}: invalid ELF header)"),
        (
            library,
            f"'{library}' is not a PKCS#11 module ({library}: undefined symbol: C_GetFunctionList)",
        ),
    ]:
        uri = parse_token_uri(f"pkcs11:token=pki;object=ca?module-path={path}")
        with pytest.raises(ModuleError) as caught:
            run.login(uri, PIN)
        assert str(caught.value) == f"pkcs11:token=pki;object=ca: {why}"


def test_no_module_at_all_says_where_to_name_one(run: TokenRun) -> None:
    with pytest.raises(ModuleError) as caught:
        run.login(parse_token_uri("pkcs11:token=pki;object=ca"), PIN)
    assert str(caught.value) == (
        "pkcs11:token=pki;object=ca: no PKCS#11 module: add ?module-path=/path/to/module.so "
        "to the URI or set PKCS11_MODULE"
    )


def test_the_module_from_pkcs11_module_serves_a_uri_without_module_path(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
) -> None:
    uri = parse_token_uri(f"pkcs11:token=pki;object={label}")
    with TokenRun(module_env=softhsm.module) as run:
        made = generate_key(run.login(uri, PIN), uri, P256, now=NOW)
    with TokenRun(module_env=softhsm.module) as run:
        assert require_key(run.login(uri, PIN), uri).public_key == made.public_key


def test_a_module_that_fails_to_initialise_says_so(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("SOFTHSM2_CONF", str(tmp_path / "missing.conf"))
    uri = softhsm.uri("ca")
    with pytest.raises(ModuleError) as caught:
        run.login(uri, PIN)
    assert str(caught.value) == (
        f"pkcs11:token=pki;object=ca: PKCS#11 module '{softhsm.module}' failed to initialise "
        "(CKR_GENERAL_ERROR)"
    )


def test_a_token_that_is_not_there_is_named_with_those_that_are(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
) -> None:
    uri = softhsm.uri("ca", token="pkj")
    with pytest.raises(TokenNotFound) as caught:
        run.login(uri, PIN)
    assert str(caught.value) == (
        "pkcs11:token=pkj;object=ca: no token matches token='pkj' (initialised tokens: 'pki')"
    )


def test_two_tokens_of_one_label_need_a_serial(
    softhsm: SoftHsm,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    twins = softhsm.store(tmp_path)
    twins.init_token("twin")
    twins.init_token("twin")
    monkeypatch.setenv("SOFTHSM2_CONF", str(twins.conf))
    uri = twins.uri("ca", token="twin")
    with TokenRun() as run:
        with pytest.raises(TokenNotFound) as caught:
            run.login(uri, PIN)
        lib = pkcs11.lib(os.path.realpath(twins.module))  # the file TokenRun loaded
        serials = [s.get_token().serial.decode() for s in lib.get_slots(token_present=True)]
        serials = [s for s in serials if s]
    assert str(caught.value) == (
        f"pkcs11:token=twin;object=ca: 2 tokens match token='twin': 'twin' (serial "
        f"{serials[0]}), 'twin' (serial {serials[1]}); add serial=... to the URI"
    )
    # and with the serial, the one named opens
    chosen = parse_token_uri(
        f"pkcs11:token=twin;serial={serials[1]};object=ca?module-path={twins.module}"
    )
    with TokenRun() as run:
        assert run.login(chosen, PIN).label == "twin"


def test_a_wrong_pin_is_refused_and_never_shown(softhsm: SoftHsm, run: TokenRun) -> None:  # noqa: F811
    uri = softhsm.uri("ca")
    with pytest.raises(WrongPin) as caught:
        run.login(uri, b"9876")
    assert str(caught.value) == f"{uri.canonical}: token 'pki' refused the PIN"
    with pytest.raises(WrongPin) as caught:
        run.login(uri, b"\xff\xfe")
    assert str(caught.value) == f"{uri.canonical}: the PIN for token 'pki' is not UTF-8 text"
    # the right one still opens it; and once open, another PIN in this process is refused
    session = run.login(uri, PIN)
    assert run.login(uri, PIN) is session
    with pytest.raises(WrongPin) as caught:
        run.login(uri, b"9876")
    assert str(caught.value) == (
        f"{uri.canonical}: token 'pki' is open with another PIN in this process"
    )


CKA_OS_TOKENFLAGS = 0x8000534B  # SoftHSM's vendor attribute: the token's flags


def set_token_flags(store: SoftHsm, *, add: int) -> None:
    """Change the flags SoftHSM keeps in its token.object, as a token does that locks a
    PIN (SoftHSM counts wrong PINs but never locks: Token::loginUser)."""
    (path,) = (store.conf.parent / "tokens").glob("*/token.object")
    data = bytearray(path.read_bytes())
    # OSAttribute as SoftHSM serialises it: type, kind (2: unsigned long), value
    at = data.index(struct.pack(">QQ", CKA_OS_TOKENFLAGS, 2)) + 16
    (flags,) = struct.unpack_from(">Q", data, at)
    struct.pack_into(">Q", data, at, flags | add)
    path.write_bytes(bytes(data))


def test_a_locked_token_is_not_tried(
    softhsm: SoftHsm,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    store = softhsm.store(tmp_path)
    store.init_token("locked")
    set_token_flags(store, add=pkcs11.TokenFlag.USER_PIN_LOCKED)
    monkeypatch.setenv("SOFTHSM2_CONF", str(store.conf))
    uri = store.uri("ca", token="locked")
    with TokenRun() as run, pytest.raises(TokenLocked) as caught:
        run.login(uri, PIN)
    assert str(caught.value) == (
        "pkcs11:token=locked;object=ca: the user PIN of token 'locked' is locked: set a new "
        "one with the SO PIN (e.g. pkcs11-tool --init-pin --login --login-type so)"
    )


def raw_pair(
    session: TokenSession, label: str, ident: bytes, *, sign: bool = True
) -> tuple[pkcs11.PublicKey, pkcs11.PrivateKey]:
    """A P-256 pair made by hand, as another tool might have left one."""
    params = bytes.fromhex("06082a8648ce3d030107")
    return session.session.generate_keypair(
        pkcs11.KeyType.EC,
        store=True,
        label=label,
        id=ident,
        capabilities=pkcs11.MechanismFlag.SIGN if sign else pkcs11.MechanismFlag.DERIVE,
        public_template={A.EC_PARAMS: params},
    )


def test_a_key_that_may_not_sign_is_refused(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    raw_pair(session, label, b"\x07", sign=False)
    with pytest.raises(KeyCannotSign) as caught:
        find_key(session, uri)
    assert str(caught.value) == (
        f"{uri.canonical}: the key '{label}' in token 'pki' may not sign (CKA_SIGN is false)"
    )
    # --rekey replaces it all the same (and keeps it)
    assert rekey(session, uri, P256, now=LATER).label == label
    replaced = f"{label}.replaced-20260602T120000Z"
    assert objects_labelled(session, replaced) == [
        ("PRIVATE_KEY", b"\x07"),
        ("PUBLIC_KEY", b"\x07"),
    ]


def test_an_ec_key_without_its_public_key_object_is_refused(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    public, _ = raw_pair(session, label, b"\x01")
    public[A.ID] = b"\x02"  # another tool's pair whose halves do not share an id
    public[A.LABEL] = "elsewhere"
    with pytest.raises(KeyUnusable) as caught:
        find_key(session, uri)
    assert str(caught.value) == (
        f"{uri.canonical}: token 'pki' has no public key object for the key '{label}' "
        "(pkiform reads an EC or EdDSA public key from the object with its id)"
    )


def test_a_public_key_object_of_another_pair_is_refused(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    public, _ = raw_pair(session, label, b"\x01")
    stranger, _ = raw_pair(session, label + "-other", b"\x02")
    public[A.ID] = b"\x09"
    stranger[A.ID] = b"\x01"  # now the id points at a public key of another pair
    with pytest.raises(KeyUnusable) as caught:
        find_key(session, uri)
    assert str(caught.value) == (
        f"{uri.canonical}: the public key object with the id of '{label}' in token 'pki' "
        "does not match its private key"
    )


def test_two_private_keys_of_one_label_are_ambiguous(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    raw_pair(session, label, b"\x01")
    raw_pair(session, label, b"\x02")
    with pytest.raises(KeyAmbiguous) as caught:
        find_key(session, uri)
    assert str(caught.value) == (
        f"{uri.canonical}: 2 private keys in token 'pki' match; name one by its id (%01, %02)"
    )
    # the URI's id tells them apart
    assert require_key(session, softhsm.uri(label, id="%02")).id == b"\x02"


def test_a_token_failing_in_the_middle_of_signing_raises_signing_error(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    raw_pair(session, label, b"\x01")
    key = require_key(session, uri)
    # the object disappears under the open session (an operator, a failing HSM)
    pkcs11_private = session.objects(pkcs11.ObjectClass.PRIVATE_KEY, label=label)[0]
    pkcs11_private.destroy()
    builder = self_signed_builder(key)
    with pytest.raises(SigningError) as caught:
        builder.sign(key.private_key, hashes.SHA256())
    assert str(caught.value) == (
        f"{uri.canonical}: the token failed to sign with the key '{label}' "
        "(CKR_OBJECT_HANDLE_INVALID)"
    )


def self_signed_builder(key: TokenKey) -> x509.CertificateBuilder:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=1))
    )


def test_a_token_key_refuses_to_sign_in_a_forked_child(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    key = generate_key(login(run, uri), uri, P256, now=NOW)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what signing did, and leave without cleanup
        try:
            key.private_key.sign(b"x", ec.ECDSA(hashes.SHA256()))
            os.write(write_end, b"signed")
        except SigningError as e:
            os.write(write_end, str(e).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read().decode()
    assert said == (
        f"{uri.canonical}: a token key cannot sign in a forked child process (PKCS#11 "
        "sessions do not survive fork): sign in the process that opened the token"
    )
    # the parent signs on
    signature = key.private_key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    assert isinstance(key.public_key, ec.EllipticCurvePublicKey)
    key.public_key.verify(signature, b"x", ec.ECDSA(hashes.SHA256()))


def test_runs_in_one_process_share_the_one_login(softhsm: SoftHsm, label: str) -> None:  # noqa: F811
    uri = softhsm.uri(label)
    with TokenRun() as outer:
        session = login(outer, uri)
        key = generate_key(session, uri, P256, now=NOW)
        with TokenRun() as inner:
            assert login(inner, uri) is session
        # the inner run's end logged nobody out: the outer one still signs
        key.private_key.sign(b"x", ec.ECDSA(hashes.SHA256()))
    with pytest.raises(SigningError):  # after the last run, the session is closed
        key.private_key.sign(b"x", ec.ECDSA(hashes.SHA256()))


# --- rekey, and what a crash leaves --------------------------------------------------------


def test_rekey_keeps_the_old_key_and_gives_the_new_one_its_label_and_id(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    ident = fresh_id()
    uri = softhsm.uri(label, id=percent(ident))
    session = login(run, uri)
    old = generate_key(session, uri, P256, now=NOW)
    new = rekey(session, uri, SPECS["p384"], now=LATER)
    assert (new.label, new.id, new.spec) == (label, ident, SPECS["p384"])
    assert new.public_key != old.public_key
    assert require_key(session, uri).public_key == new.public_key
    replaced = f"{label}.replaced-20260602T120000Z"
    moved = ident + b".replaced-20260602T120000Z"
    assert objects_labelled(session, replaced) == [("PRIVATE_KEY", moved), ("PUBLIC_KEY", moved)]
    kept = require_key(session, softhsm.uri(replaced))
    assert kept.public_key == old.public_key
    assert kept.protection.kept  # relabelled, not copied: still never extractable
    assert replaced_label(session, uri, old.public_key) == replaced
    assert replaced_label(session, uri, new.public_key) is None


def test_rekey_without_an_id_in_the_uri_leaves_the_old_id(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    old = generate_key(session, uri, SPECS["ed25519"], now=NOW)
    new = rekey(session, uri, SPECS["ed25519"], now=LATER)
    assert new.id == x509.SubjectKeyIdentifier.from_public_key(new.public_key).digest
    replaced = f"{label}.replaced-20260602T120000Z"
    assert objects_labelled(session, replaced) == [("PRIVATE_KEY", old.id), ("PUBLIC_KEY", old.id)]


def test_rekey_of_a_missing_key_is_key_not_found(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    with pytest.raises(KeyNotFound) as caught:
        rekey(login(run, uri), uri, P256, now=NOW)
    assert (
        str(caught.value) == f"{uri.canonical}: token 'pki' has no private key labelled '{label}'"
    )


CHILD = """\
import os, signal, sys
from datetime import UTC, datetime

from pkiform.spec.model import KeySpec, KeyType
from pkiform.x509.token_changes import generate_key, rekey
from pkiform.x509.token_session import TokenRun, TokenSession
from pkiform.spec.token_uri import parse_token_uri

operation, uri_text, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
changes = 0


def killed_at_the_chosen_change(change):
    def counted(*args, **kwargs):
        global changes
        changes += 1
        if changes == kill_at:  # as a power cut would: no cleanup, no flush
            os.kill(os.getpid(), signal.SIGKILL)
        return change(*args, **kwargs)
    return counted


TokenSession.set = killed_at_the_chosen_change(TokenSession.set)
TokenSession.generate_pair = killed_at_the_chosen_change(TokenSession.generate_pair)
uri = parse_token_uri(uri_text)
with TokenRun() as run:
    change = rekey if operation == "rekey" else generate_key
    spec = KeySpec(type=KeyType.EC, curve="P-256")
    change(run.login(uri, b"1234"), uri, spec, now=datetime(2026, 6, 2, 12, tzinfo=UTC))
print(changes)
"""


def run_killed(tmp_path: Path, operation: str, uri: TokenUri, kill_at: int, steps: int) -> None:
    """The operation in a child process that SIGKILLs itself before change `kill_at`
    (1: C_GenerateKeyPair, then each C_SetAttributeValue; 0: never) of its `steps`."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    result = run_python(script, operation, str(uri), str(kill_at), timeout=60)
    if kill_at:
        assert result.returncode == -9, result.stderr
    else:
        assert (result.returncode, result.stdout) == (0, f"{steps}\n"), result.stderr


# rekey of a key whose URI names an id: 1 make the pending pair; 2-3 the old private key
# takes L.replaced-S then its new id (2 is the commit); 4-5 the old public key; 6-7 the
# new public key takes the id then L; 8-9 the new private key; 0: not killed
REKEY_STEPS = 9


@pytest.mark.parametrize("kill_at", range(REKEY_STEPS + 1))
def test_a_rekey_killed_at_any_change_is_finished_or_undone_by_recover(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    tmp_path: Path,
    kill_at: int,
) -> None:
    ident = fresh_id()
    uri = softhsm.uri(label, id=percent(ident))
    with TokenRun() as run:
        old = generate_key(login(run, uri), uri, P256, now=NOW)
    run_killed(tmp_path, "rekey", uri, kill_at, REKEY_STEPS)
    committed = kill_at == 0 or kill_at > 2
    replaced = f"{label}.replaced-20260602T120000Z"
    with TokenRun() as run:
        session = login(run, uri)
        # before recovery: the old key while the rekey is undecided; never a missing key
        if kill_at in (1, 2):
            assert require_key(session, uri).public_key == old.public_key
        elif committed and kill_at:
            with pytest.raises(KeyInterrupted) as caught:
                find_key(session, uri)
            assert str(caught.value) == (
                f"{uri.canonical}: an interrupted key generation or rekey left "
                f"'{label}.pending' in token 'pki': the next apply finishes it"
            )
        assert interrupted(session, uri) == (kill_at > 1)
        recovery = recover(session, uri, now=LATER)
        assert recover(session, uri, now=LATER) is None  # done once and for all
        assert not interrupted(session, uri)
        key = require_key(session, uri)
        if kill_at <= 1:
            assert recovery is None
        else:
            assert recovery is not None
            assert recovery.finished == committed
        if committed:
            assert key.public_key != old.public_key
            assert key.id == ident
            moved = ident + b".replaced-20260602T120000Z"
            assert objects_labelled(session, replaced) == [
                ("PRIVATE_KEY", moved),
                ("PUBLIC_KEY", moved),
            ]
            assert replaced_label(session, uri, old.public_key) == replaced
        else:
            assert key.public_key == old.public_key
            assert objects_labelled(session, replaced) == []
        abandoned = objects_labelled(session, f"{label}.abandoned-20260602T120000Z")
        assert len(abandoned) == (2 if kill_at == 2 else 0)
        assert objects_labelled(session, label) == [("PRIVATE_KEY", key.id), ("PUBLIC_KEY", key.id)]


# generation under a URI without id: 1 make the pending pair; 2-3 the public key takes
# its id (the subject key identifier) then L; 4-5 the private key; 0: not killed
GENERATE_STEPS = 5


@pytest.mark.parametrize("kill_at", range(GENERATE_STEPS + 1))
def test_a_generation_killed_at_any_change_is_finished_by_recover(
    softhsm: SoftHsm,  # noqa: F811
    label: str,
    tmp_path: Path,
    kill_at: int,
) -> None:
    uri = softhsm.uri(label)
    run_killed(tmp_path, "generate", uri, kill_at, GENERATE_STEPS)
    with TokenRun() as run:
        session = login(run, uri)
        if kill_at > 1:
            with pytest.raises(KeyInterrupted):
                find_key(session, uri)
        recovery = recover(session, uri, now=LATER)
        assert (recovery.finished if recovery else None) == (True if kill_at > 1 else None)
        key = find_key(session, uri)
        if kill_at == 1:
            assert key is None
            return
        assert key is not None
        assert key.protection.kept
        assert key.id == x509.SubjectKeyIdentifier.from_public_key(key.public_key).digest
        assert objects_labelled(session, label) == [("PRIVATE_KEY", key.id), ("PUBLIC_KEY", key.id)]


def test_a_public_key_left_alone_by_a_generation_killed_in_the_token_is_set_aside(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    """A crash inside C_GenerateKeyPair can leave one object of the pair."""
    uri = softhsm.uri(label)
    session = login(run, uri)
    _, private = raw_pair(session, label + ".pending", b"pkiform-pending:20260602T120000Z")
    private.destroy()  # test set-up: what the crash would have left
    recovery = recover(session, uri, now=LATER)
    assert recovery == Recovery(
        finished=False,
        message="set aside the key pair an interrupted run left unfinished in token 'pki', "
        f"as '{label}.abandoned-20260602T120000Z'; the key labelled '{label}' is unchanged",
    )
    assert find_key(session, uri) is None
    assert generate_key(session, uri, P256, now=LATER).label == label


def test_generate_and_rekey_wait_for_recovery(
    softhsm: SoftHsm,  # noqa: F811
    run: TokenRun,
    label: str,
) -> None:
    uri = softhsm.uri(label)
    session = login(run, uri)
    generate_key(session, uri, P256, now=NOW)
    raw_pair(session, label + ".pending", b"pkiform-pending:20260602T120000Z")
    message = (
        f"{uri.canonical}: an interrupted key generation or rekey left '{label}.pending' in "
        "token 'pki': recover it first"
    )
    for change in (generate_key, rekey):
        with pytest.raises(KeyInterrupted) as caught:
            change(session, uri, P256, now=LATER)
        assert str(caught.value) == message


def test_pkiform_never_deletes_a_token_object() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "pkiform" / "x509"
    for path in package.glob("*.py"):
        assert ".destroy(" not in path.read_text(), path.name


IMPORTS = """\
import sys
{hide}
import pkiform.cli, pkiform.x509.keys, pkiform.x509.revocation
from pkiform.x509 import token_changes, token_keys, token_recovery, token_session
from pkiform.x509.token_errors import Pkcs11Missing
from pkiform.spec.token_uri import parse_token_uri

uri = parse_token_uri("pkcs11:token=pki;object=ca")
print(sys.modules.get("pkcs11") is not None)
try:
    token_session.TokenRun(module_env="/usr/lib/none.so").login(uri, b"1234")
except Pkcs11Missing as e:
    print(e)
"""


LIGHT = """\
import sys
{hide}
from pkiform.spec.token_uri import pkcs11_installed
from pkiform.spec.token_uri import parse_token_uri

parse_token_uri("pkcs11:token=pki;object=ca?module-path=/usr/lib/softhsm/libsofthsm2.so")
print(pkcs11_installed(), sorted({{"cryptography", "pkcs11"}} & sys.modules.keys()))
"""


def test_validating_a_token_uri_imports_neither_cryptography_nor_pkcs11(tmp_path: Path) -> None:
    script = tmp_path / "light.py"
    script.write_text(LIGHT.format(hide=""))
    assert run_python(script).stdout == "True []\n"
    script.write_text(LIGHT.format(hide='sys.modules["pkcs11"] = None  # not installed'))
    assert run_python(script).stdout == "False ['pkcs11']\n"


def test_pkiform_imports_python_pkcs11_only_to_open_a_token(tmp_path: Path) -> None:
    script = tmp_path / "imports.py"
    script.write_text(IMPORTS.format(hide=""))
    result = run_python(script)
    assert result.stdout.splitlines()[0] == "False", result.stderr
    # and without it installed, opening a token names the extra that brings it
    script.write_text(IMPORTS.format(hide='sys.modules["pkcs11"] = None  # not installed'))
    result = run_python(script)
    assert result.stdout == (
        "False\npkcs11:token=pki;object=ca: a key in a token needs python-pkcs11: "
        "pip install 'pkiform[pkcs11]'\n"
    ), result.stderr
