"""RFC 7512 `pkcs11:` URIs: what pkiform reads from one, and each refusal's whole message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pkiform.spec.token_uri import TokenUri, TokenUriError, parse_token_uri

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"

# (URI as a spec writes it, what it parses to, its canonical form, str() of it)
GOOD = [
    (
        "pkcs11:token=pki;object=root-ca",
        TokenUri(token="pki", object="root-ca"),
        "pkcs11:token=pki;object=root-ca",
        "pkcs11:token=pki;object=root-ca",
    ),
    (  # the order a URI writes its attributes in does not matter
        "pkcs11:object=root-ca;token=pki",
        TokenUri(token="pki", object="root-ca"),
        "pkcs11:token=pki;object=root-ca",
        "pkcs11:token=pki;object=root-ca",
    ),
    (
        f"pkcs11:token=pki;object=root-ca;id=%01?module-path={SOFTHSM}&pin-source=file:/run/pin",
        TokenUri(
            token="pki",
            object="root-ca",
            id=b"\x01",
            module_path=SOFTHSM,
            pin_source="file:/run/pin",
        ),
        "pkcs11:token=pki;object=root-ca;id=%01",
        f"pkcs11:token=pki;object=root-ca;id=%01?module-path={SOFTHSM}&pin-source=file:/run/pin",
    ),
    (  # an id written as text is its bytes (step-ca's `id=7331`); printed byte by byte
        "pkcs11:id=7331",
        TokenUri(id=b"7331"),
        "pkcs11:id=%37%33%33%31",
        "pkcs11:id=%37%33%33%31",
    ),
    (
        "pkcs11:token=My%20Token;object=ca%2fone;id=%a0%FF",
        TokenUri(token="My Token", object="ca/one", id=b"\xa0\xff"),
        "pkcs11:token=My%20Token;object=ca%2Fone;id=%A0%FF",
        "pkcs11:token=My%20Token;object=ca%2Fone;id=%A0%FF",
    ),
    (
        "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2;serial=70910b18ac774738;"
        "slot-id=5;object=x;type=private",
        TokenUri(
            manufacturer="SoftHSM project",
            model="SoftHSM v2",
            serial="70910b18ac774738",
            slot_id=5,
            object="x",
            type="private",
        ),
        "pkcs11:manufacturer=SoftHSM%20project;serial=70910b18ac774738;model=SoftHSM%20v2;"
        "slot-id=5;object=x;type=private",
        "pkcs11:manufacturer=SoftHSM%20project;serial=70910b18ac774738;model=SoftHSM%20v2;"
        "slot-id=5;object=x;type=private",
    ),
    (  # UTF-8, percent-encoded; '&' needs no encoding in the path, '/' none in the query
        "pkcs11:object=caf%C3%A9&co?module-path=/opt/hsm/lib.so",
        TokenUri(object="café&co", module_path="/opt/hsm/lib.so"),
        "pkcs11:object=caf%C3%A9&co",
        "pkcs11:object=caf%C3%A9&co?module-path=/opt/hsm/lib.so",
    ),
]


@pytest.mark.parametrize(("text", "parsed", "canonical", "shown"), GOOD)
def test_a_good_uri_parses(text: str, parsed: TokenUri, canonical: str, shown: str) -> None:
    uri = parse_token_uri(text)
    assert uri == parsed
    assert uri.canonical == canonical
    assert str(uri) == shown
    assert parse_token_uri(str(uri)) == uri


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("file:/run/pin", "/run/pin"),
        ("file:///run/pin", "/run/pin"),
        ("file:pin.txt", "pin.txt"),
        ("/run/pin", "/run/pin"),
        ("pin.txt", "pin.txt"),
    ],
)
def test_pin_source_names_a_file(source: str, path: str) -> None:
    assert parse_token_uri(f"pkcs11:object=x?pin-source={source}").pin_file == path


PIN_HINT = "give pin_env or pin_file beside pkcs11, or pin-source=file:PATH in the URI"

BAD = [
    ("", "expected a URI starting with 'pkcs11:'; got ''"),
    ("pkcs12:object=x", "expected a URI starting with 'pkcs11:'; got 'pkcs12:object=x'"),
    ("PKCS11:object=x", "expected a URI starting with 'pkcs11:'; got 'PKCS11:object=x'"),
    ("pkcs12:object=x;pin-value=4321", "expected a URI starting with 'pkcs11:'; got 'pkcs12'"),
    ("pkcs11:object=x;pin-value=4321", f"pin-value: a PIN never goes in the spec; {PIN_HINT}"),
    ("pkcs11:object=x?pin-value=4321", f"pin-value: a PIN never goes in the spec; {PIN_HINT}"),
    ("pkcs11:", "the URI names no key: add object=LABEL (its CKA_LABEL) or id=%XX..."),
    ("pkcs11:token=pki", "the URI names no key: add object=LABEL (its CKA_LABEL) or id=%XX..."),
    (
        "pkcs11:object",
        "expected NAME=VALUE in the URI's path; got 'object' (write a ';' inside a value as %3B)",
    ),
    (
        "pkcs11:object=x;;token=a",
        "expected NAME=VALUE in the URI's path; got '' (write a ';' inside a value as %3B)",
    ),
    ("pkcs11:object=", "object: empty value"),
    ("pkcs11:object=x;object=y", "object: given twice"),
    ("pkcs11:objct=x", "unknown attribute 'objct' in the URI's path (did you mean 'object'?)"),
    ("pkcs11:Object=x", "unknown attribute 'Object' in the URI's path (did you mean 'object'?)"),
    (
        "pkcs11:object=x?module=/a.so",
        "unknown attribute 'module' in the URI's query (did you mean 'module-path'?)",
    ),
    (
        "pkcs11:object=x?b=c",
        "unknown attribute 'b' in the URI's query (expected one of module-path, pin-source)",
    ),
    (
        "pkcs11:object=x;module-path=/a.so",
        "module-path: a query attribute: write it after '?', joined by '&'",
    ),
    ("pkcs11:object=x?token=pki", "token: a path attribute: write it before '?', joined by ';'"),
    (
        "pkcs11:object=x?module-name=softhsm2",
        "module-name: not supported; it needs p11-kit's module registry; "
        "give module-path=/path/to/module.so",
    ),
    (
        "pkcs11:library-version=2.6;object=x",
        "library-version: not supported; pkiform picks the library by module-path",
    ),
    (
        "pkcs11:slot-description=a;object=x",
        "slot-description: not supported; select the token by token=LABEL, serial=... or slot-id=N",
    ),
    ("pkcs11:x-vendor=1;object=x", "x-vendor: vendor attributes are not supported"),
    ("pkcs11:object=root ca", "object: ' ' must be percent-encoded, as '%20'"),
    ("pkcs11:object=a/b", "object: '/' must be percent-encoded, as '%2F'"),
    (
        "pkcs11:object=x?module-path=/a&b.so",
        "expected NAME=VALUE in the URI's query; got 'b.so' (write a '&' inside a value as %26)",
    ),
    ("pkcs11:object=caf\u00e9", "object: 'é' must be percent-encoded, as '%C3%A9'"),
    (
        "pkcs11:object=x;id=%0",
        "id: '%0' is not a percent-encoded byte (expected % and two hex digits)",
    ),
    (
        "pkcs11:object=%zz",
        "object: '%zz' is not a percent-encoded byte (expected % and two hex digits)",
    ),
    ("pkcs11:object=%FF", "object: '%FF' is not UTF-8 once percent-decoded"),
    ("pkcs11:object=x;slot-id=0x1", "slot-id: expected a decimal number; got '0x1'"),
    (
        "pkcs11:object=x;type=cert",
        "type: expected 'private' or no type (pkiform signs with the private key); got 'cert'",
    ),
    (
        "pkcs11:object=x?pin-source=%7Ccat%20/run/pin",
        "pin-source: pkiform runs no command to get a PIN; got '|cat /run/pin' "
        "(give file:PATH, or pin_env beside pkcs11)",
    ),
    (
        "pkcs11:object=x?pin-source=file://vault/pin",
        "pin-source: expected file:PATH or file:///PATH (a local file); got 'file://vault/pin'",
    ),
    (
        "pkcs11:object=x?pin-source=https://vault/pin",
        "pin-source: expected file:PATH or a path; got 'https://vault/pin'",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_a_bad_uri_is_refused_with_its_message(text: str, message: str) -> None:
    with pytest.raises(TokenUriError) as caught:
        parse_token_uri(text)
    assert str(caught.value) == message
    assert "4321" not in str(caught.value)  # a PIN in the URI is never repeated


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=20)


@given(
    token=_TEXT,
    label=_TEXT,
    ident=st.binary(min_size=1, max_size=8),
    module=_TEXT,
    serial=st.none() | _TEXT,
    slot=st.none() | st.integers(min_value=0, max_value=2**32),
)
def test_any_uri_reads_back_as_printed(
    token: str, label: str, ident: bytes, module: str, serial: str | None, slot: int | None
) -> None:
    uri = TokenUri(
        token=token, serial=serial, slot_id=slot, object=label, id=ident, module_path=module
    )
    assert parse_token_uri(str(uri)) == uri
    assert parse_token_uri(uri.canonical) == TokenUri(
        token=token, serial=serial, slot_id=slot, object=label, id=ident
    )
