"""The web-config file: every problem named with its key path, checked by check-config and run."""

from __future__ import annotations

import shutil
import ssl
from pathlib import Path

import pytest
import yaml

from collector import config, webconfig
from collector.cli import main
from tests.http.conftest import PKI, bcrypt_hash
from tests.http.pki import encrypted_key

HASH = "$2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi"  # exporter-toolkit's dummy


@pytest.fixture
def certs(pki: PKI, tmp_path: Path) -> Path:
    """A web-config directory with the certificates under relative names."""
    for name, source in (
        ("server.crt", pki.server.cert),
        ("server.key", pki.server.key),
        ("ca.crt", pki.ca.cert),
    ):
        shutil.copy(source, tmp_path / name)
    return tmp_path


def problems(directory: Path, text: str) -> list[str]:
    path = directory / "web.yml"
    path.write_text(text)
    with pytest.raises(webconfig.WebConfigError) as info:
        webconfig.load(path)
    assert info.value.source == str(path)
    return info.value.problems


TLS = "tls_server_config: {cert_file: server.crt, key_file: server.key"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- a\n", ["(top level): must be a mapping"]),
        ("tls_server_config: [x]\n", ["tls_server_config: must be a mapping"]),
        (
            "tls_server_config: {cert_file: server.crt}\n",
            ["tls_server_config.key_file: required key is missing"],
        ),
        (
            "tls_server_config: {cert_file: '', key_file: 3}\n",
            [
                "tls_server_config.cert_file: must not be empty",
                "tls_server_config.key_file: must be a string",
            ],
        ),
        (
            "tls_server_config: {cert_fle: a.crt, key_file: server.key}\nbasic_auth: {}\n",
            # In the order of the file's schema, unknown keys after the known ones.
            [
                "tls_server_config.cert_file: required key is missing",
                "tls_server_config.cert_fle: unknown key: did you mean cert_file?",
                "basic_auth: unknown key: did you mean basic_auth_users?",
            ],
        ),
        (
            "rate_limit: {interval: 1s, burst: 5}\n"
            "tls_server_config: {cert: PEM, key: PEM, client_ca: PEM, curve_preferences: [X25519],"
            " cert_file: server.crt, key_file: server.key}\n",
            [
                "tls_server_config.cert: not supported by adoption-collector; use cert_file",
                "tls_server_config.key: not supported by adoption-collector; use key_file",
                "tls_server_config.client_ca: not supported by adoption-collector; "
                "use client_ca_file",
                "tls_server_config.curve_preferences: not supported by adoption-collector "
                "(OpenSSL's default curves are used); remove it",
                "rate_limit: not supported by adoption-collector; remove it",
            ],
        ),
        (
            f"{TLS}, client_auth_type: RequireAnyClientCert, client_ca_file: ca.crt}}\n",
            [
                "tls_server_config.client_auth_type: RequireAnyClientCert is not supported by "
                "adoption-collector: it accepts a client certificate without verifying it; use "
                "RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file"
            ],
        ),
        (
            f"{TLS}, client_auth_type: Always}}\n",
            [
                "tls_server_config.client_auth_type: must be one of NoClientCert, "
                "RequestClientCert, RequireAnyClientCert, VerifyClientCertIfGiven, "
                "RequireAndVerifyClientCert, not 'Always'"
            ],
        ),
        (
            f"{TLS}, client_ca_file: ca.crt}}\n",
            [
                "tls_server_config.client_ca_file: set, but client_auth_type is NoClientCert: "
                "no client certificate is asked for"
            ],
        ),
        (
            f"{TLS}, client_auth_type: RequireAndVerifyClientCert}}\n",
            [
                "tls_server_config.client_ca_file: required with client_auth_type "
                "RequireAndVerifyClientCert"
            ],
        ),
        (
            f"{TLS}, client_auth_type: VerifyClientCertIfGiven, client_ca_file: ca.crt,"
            " client_allowed_sans: [prometheus]}\n",
            [
                "tls_server_config.client_allowed_sans: needs client_auth_type "
                "RequireAndVerifyClientCert"
            ],
        ),
        (
            f"{TLS}, min_version: TLS10, max_version: SSL3}}\n",
            [
                "tls_server_config.max_version: must be one of TLS12, TLS13, not 'SSL3'",
                "tls_server_config.min_version: must be one of TLS12, TLS13, not 'TLS10'",
            ],
        ),
        (
            f"{TLS}, min_version: TLS13, max_version: TLS12}}\n",
            ["tls_server_config.min_version: must not be above max_version"],
        ),
        (
            f"{TLS}, cipher_suites: [TLS_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA]}}\n",
            [
                "tls_server_config.cipher_suites[1]: unknown cipher suite "
                "TLS_RSA_WITH_RC4_128_SHA: must be one of " + ", ".join(config.CIPHER_SUITES)
            ],
        ),
        (
            f"{TLS}, prefer_server_cipher_suites: maybe, cipher_suites: TLS_AES_128_GCM_SHA256}}\n",
            [
                "tls_server_config.cipher_suites: must be a list",
                "tls_server_config.prefer_server_cipher_suites: must be true or false",
            ],
        ),
        (
            "http_server_config:\n  http2: 'yes'\n  keepalive: true\n  headers:\n"
            "    X-Frame-Options: allow\n    Server: nginx\n    X-Content-Type-Options: 1\n",
            [
                "http_server_config.http2: must be true or false",
                "http_server_config.headers.X-Content-Type-Options: must be a string",
                "http_server_config.headers.X-Frame-Options: must be one of deny, sameorigin",
                "http_server_config.headers.Server: unknown key",
                "http_server_config.keepalive: unknown key",
            ],
        ),
        (
            f"basic_auth_users: {{alice: not-a-hash, 'a:b': '{HASH}', bob: 12, '': '{HASH}'}}\n",
            [
                "basic_auth_users.alice: must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)",
                "basic_auth_users.a:b: a user name cannot contain ':' (basic auth splits on it)",
                "basic_auth_users.bob: must be a string",
                "basic_auth_users.: a user name must be a non-empty string",
            ],
        ),
        ("basic_auth_users: [alice]\n", ["basic_auth_users: must be a mapping"]),
        (
            'http_server_config: {headers: {Content-Security-Policy: "default-src \\u0007"}}\n',
            [
                "http_server_config.headers.Content-Security-Policy: "
                "must be a string of printable ASCII"
            ],
        ),
    ],
)
def test_problems_name_the_key_path(certs: Path, text: str, expected: list[str]) -> None:
    assert problems(certs, text) == expected


def test_a_problem_never_shows_a_password_hash(certs: Path) -> None:
    secret = "$2b$10$" + "x" * 52  # one character short of a hash
    (problem,) = problems(certs, f"basic_auth_users: {{alice: '{secret}'}}\n")
    assert secret not in problem
    assert "x" * 52 not in problem


def test_file_problems_name_the_file(certs: Path, pki: PKI) -> None:
    d = certs
    assert problems(d, f"{TLS.replace('server.crt', 'missing.crt')}}}\n") == [
        f"tls_server_config.cert_file: cannot read {d / 'missing.crt'}: No such file or directory"
    ]
    assert problems(d, f"{TLS.replace('server.crt', '.')}}}\n") == [
        f"tls_server_config.cert_file: cannot read {d / '.'}: Is a directory"
    ]
    (d / "notes.txt").write_text("hello\n")
    assert problems(d, f"{TLS.replace('server.key', 'notes.txt')}}}\n") == [
        f"tls_server_config.key_file: {d / 'notes.txt'} holds no PEM private key"
    ]
    assert problems(d, f"{TLS.replace('server.crt', 'server.key')}}}\n") == [
        f"tls_server_config.cert_file: {d / 'server.key'} holds no PEM certificate"
    ]
    shutil.copy(pki.client.key, d / "client.key")
    assert problems(d, f"{TLS.replace('server.key', 'client.key')}}}\n") == [
        f"tls_server_config.key_file: cannot use {d / 'client.key'} with {d / 'server.crt'}: "
        "the key does not belong to the certificate"
    ]
    encrypted_key(d / "locked.key")
    assert problems(d, f"{TLS.replace('server.key', 'locked.key')}}}\n") == [
        f"tls_server_config.key_file: {d / 'locked.key'} is encrypted; it must not be"
    ]
    ca = f"{TLS}, client_auth_type: RequireAndVerifyClientCert, client_ca_file: notes.txt}}\n"
    assert problems(d, ca) == [
        f"tls_server_config.client_ca_file: {d / 'notes.txt'} holds no PEM certificate"
    ]
    with pytest.raises(webconfig.WebConfigError) as info:
        webconfig.load(d / "absent.yml")
    assert info.value.problems == ["(file): cannot read: No such file or directory"]
    assert problems(d, "tls_server_config: {cert_file: [\n") == [
        "line 2, column 1: not valid YAML: while parsing a flow node, "
        "expected the node content, but found '<stream end>'"
    ]

    # YAML that parses but cannot be built, or is absurdly nested: a problem, never a crash
    # (an escaping exception once cost the HTTP server a connection slot per connection).
    assert problems(d, "headers: {expires: 2024-13-45}\n") == [
        "(file): not valid YAML: month must be in 1..12"
    ]
    assert problems(d, "[" * 5000) == ["(file): nested too deeply to read"]


def test_a_yaml_error_never_quotes_the_line(certs: Path) -> None:
    # A password pasted where its hash belongs, with a quote missing.
    assert problems(certs, 'basic_auth_users:\n  prometheus: "hunter2\n') == [
        "line 3, column 1: not valid YAML: while scanning a quoted scalar, "
        "found unexpected end of stream"
    ]


def test_a_valid_file_relative_paths_against_its_directory(certs: Path, tmp_path: Path) -> None:
    path = certs / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        "  cert_file: server.crt\n"
        f"  key_file: {certs / 'server.key'}\n"  # absolute stays absolute
        "  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_ca_file: ca.crt\n"
        "  client_allowed_sans: [prometheus]\n"
        "  min_version: TLS13\n"
        "  cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_128_GCM_SHA256]\n"
        "  prefer_server_cipher_suites: false\n"
        "http_server_config:\n"
        "  http2: false\n"
        "  headers:\n"
        "    Strict-Transport-Security: max-age=31536000\n"
        "    X-Frame-Options: deny\n"
        "    X-XSS-Protection: ''\n"  # blank: not sent
        f"basic_auth_users: {{prometheus: '{HASH}'}}\n"
    )
    web = webconfig.load(path)
    assert web.tls == config.TLSServerConfig(
        cert_file=str(certs / "server.crt"),
        key_file=str(certs / "server.key"),
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file=str(certs / "ca.crt"),
        client_allowed_sans=("prometheus",),
        min_version="TLS13",
        max_version="TLS13",
        cipher_suites=("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
        prefer_server_cipher_suites=False,
    )
    assert web.context is not None
    assert web.context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert not web.context.options & ssl.OP_CIPHER_SERVER_PREFERENCE
    assert web.headers == (
        ("Strict-Transport-Security", "max-age=31536000"),
        ("X-Frame-Options", "deny"),
    )
    assert dict(web.users) == {"prometheus": HASH.encode()}
    assert web.context is not None
    assert web.context.verify_mode == ssl.CERT_REQUIRED
    assert web.summary() == (
        "TLS, client certificates RequireAndVerifyClientCert, 1 basic auth user(s), "
        "2 extra header(s)"
    )
    empty = certs / "empty.yml"
    empty.write_text("")
    assert webconfig.load(empty).summary() == "no TLS, no basic auth"


def _config(tmp_path: Path, web: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "platform": {"launch_date": "2026-03-01"},
                "state": {"path": str(tmp_path / "state.db")},
                "server": {"listen": "127.0.0.1:0", "web_config_file": str(web)},
            }
        )
    )
    return path


def test_check_config_validates_the_web_config(
    certs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    web = certs / "web.yml"
    web.write_text(f"{TLS}}}\nbasic_auth_users: {{prometheus: '{bcrypt_hash('pw')}'}}\n")
    path = _config(tmp_path, web)
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: ok (0 cluster(s), 0 golden path(s))\n"
        f"{web}: web config ok (TLS, 1 basic auth user(s))\n"
    )
    web.write_text(f"{TLS}, client_auth_type: RequireAnyClientCert}}\nbasic_auth_users: []\n")
    assert main(["check-config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"{web}: invalid web configuration (server.web_config_file)\n"
        "  tls_server_config.client_auth_type: RequireAnyClientCert is not supported by "
        "adoption-collector: it accepts a client certificate without verifying it; use "
        "RequireAndVerifyClientCert (or VerifyClientCertIfGiven) with client_ca_file\n"
        "  basic_auth_users: must be a mapping\n"
    )


def test_run_refuses_a_bad_web_config_before_serving(
    certs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "web.yml"
    path = _config(tmp_path, missing)
    assert main(["run", "--config", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"{missing}: invalid web configuration (server.web_config_file)\n"
        "  (file): cannot read: No such file or directory\n"
    )


def test_allowed_sans_compare_ip_addresses_as_addresses() -> None:
    tls = config.TLSServerConfig(
        cert_file="tls.crt",
        key_file="tls.key",
        client_auth_type="RequireAndVerifyClientCert",
        client_ca_file="ca.crt",
        client_allowed_sans=("2001:db8::1", "prometheus"),
    )

    def peer(*sans: tuple[str, str]) -> dict[str, object]:
        return {"subjectAltName": sans}

    # Python's ssl prints IPv6 addresses uncompressed, upper case; Go (and users) compressed.
    assert webconfig.peer_allowed(tls, peer(("IP Address", "2001:DB8:0:0:0:0:0:1\n")))
    assert webconfig.peer_allowed(tls, peer(("DNS", "other"), ("DNS", "prometheus")))
    assert not webconfig.peer_allowed(
        tls, peer(("DNS", "prometheus.example"), ("IP Address", "2001:DB8:0:0:0:0:0:2"))
    )
    assert not webconfig.peer_allowed(tls, {})
