"""HTTPS, basic auth and client certificates from a web-config file, over real TLS on loopback,
with http.client and with a real Prometheus server scraping."""

from __future__ import annotations

import base64
import http.client
import json
import logging
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from collector import exporter, webconfig
from collector.http import MetricsServer
from tests.conftest import CANARY
from tests.http.conftest import BODY, PKI, bcrypt_hash, serving
from tests.test_service import free_port, get, wait_for

PASSWORD = CANARY  # any appearance in a log record fails the test (tests/conftest.py)
HSTS = ("Strict-Transport-Security", "max-age=31536000")


def web_config(directory: Path, text: str) -> webconfig.WebConfig:
    path = directory / "web.yml"
    path.write_text(text)
    return webconfig.load(path)


def tls_section(pki: PKI, extra: str = "") -> str:
    return (
        "tls_server_config:\n"
        f"  cert_file: {pki.server.cert}\n"
        f"  key_file: {pki.server.key}\n" + extra
    )


def client_context(
    pki: PKI, cert: Any = None, maximum: ssl.TLSVersion | None = None
) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    if maximum is not None:
        context.maximum_version = maximum
    return context


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def request(
    server: MetricsServer,
    context: ssl.SSLContext,
    path: str = "/metrics",
    headers: dict[str, str] | None = None,
) -> tuple[int, list[tuple[str, str]], bytes]:
    host, port = server.server_address[:2]
    connection = http.client.HTTPSConnection(str(host), port, context=context, timeout=5)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        headers_out = [(n, v) for n, v in response.getheaders() if n.lower() != "date"]
        return response.status, headers_out, response.read()
    finally:
        connection.close()


def text_headers(body: bytes, *extra: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("Server", "adoption-collector"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        *extra,
    ]


def test_basic_auth_guards_everything_but_the_probes(pki: PKI, tmp_path: Path) -> None:
    web = web_config(
        tmp_path,
        tls_section(pki)
        + f"http_server_config: {{headers: {{{HSTS[0]}: {HSTS[1]}}}}}\n"
        + "basic_auth_users:\n"
        + f"  prometheus: '{bcrypt_hash(PASSWORD)}'\n"
        + f"  ops: '{bcrypt_hash('with:colon')}'\n",
    )
    context = client_context(pki)
    unauthorized = (
        401,
        text_headers(
            b"unauthorized\n", ("WWW-Authenticate", 'Basic realm="adoption-collector"'), HSTS
        ),
        b"unauthorized\n",
    )
    metrics = (
        200,
        [
            ("Server", "adoption-collector"),
            ("Content-Type", exporter.CONTENT_TYPE),
            ("Content-Length", str(len(BODY))),
            ("Vary", "Accept-Encoding"),
            HSTS,
        ],
        BODY,
    )
    with serving(web=web) as server:
        assert server.url.startswith("https://127.0.0.1:")
        for headers in (
            {},
            {"Authorization": basic("prometheus", "wrong")},
            {"Authorization": basic("nobody", PASSWORD)},
            {"Authorization": basic("prometheus", PASSWORD + "x")},
            {"Authorization": basic("prometheus", "x" * 100)},  # over bcrypt's 72 bytes
            {"Authorization": "Bearer " + PASSWORD},
            {"Authorization": "Basic !!!"},
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        ):
            assert request(server, context, headers=headers) == unauthorized
        for path in (  # the page, the API, and even what does not exist: credentials first
            "/",
            "/teams/payments",
            "/api/v1/summary",
            "/api/v1/teams/payments",
            "/api/v1/workloads?team=payments",
            "/api/v1/history",
            "/nope",
        ):
            assert request(server, context, path) == unauthorized
        assert request(server, context, "/healthz") == (200, text_headers(b"ok\n", HSTS), b"ok\n")
        assert request(server, context, "/readyz") == (
            200,
            text_headers(b"ready\n", HSTS),
            b"ready\n",
        )
        good = {"Authorization": basic("prometheus", PASSWORD)}
        assert request(server, context, headers=good) == metrics
        assert request(server, context, "/nope", good) == (
            404,
            text_headers(b"not found\n", HSTS),
            b"not found\n",
        )
        assert (
            request(server, context, headers={"Authorization": basic("ops", "with:colon")})[0]
            == 200
        )
        lower = {"Authorization": "basic " + basic("prometheus", PASSWORD)[6:]}
        assert request(server, context, headers=lower) == metrics


def test_a_good_password_pays_bcrypt_once(pki: PKI, tmp_path: Path) -> None:
    # Cost 11: about a tenth of a second per check, so one paid check is easy to see.
    hashed = bcrypt_hash(PASSWORD, 11)
    web = web_config(tmp_path, f"basic_auth_users: {{prometheus: '{hashed}'}}\n")
    with serving(web=web) as server:
        host, port = server.server_address[:2]

        def scrape(password: str) -> float:
            started = time.monotonic()
            connection = http.client.HTTPConnection(str(host), port, timeout=10)
            auth = {"Authorization": basic("prometheus", password)}
            connection.request("GET", "/metrics", headers=auth)
            status = connection.getresponse().status
            connection.close()
            assert status == (200 if password == PASSWORD else 401)
            return time.monotonic() - started

        first = scrape(PASSWORD)
        later = sum(scrape(PASSWORD) for _ in range(10))
        assert later < first
        # A wrong password is never remembered: each guess pays in full.
        assert scrape("guess") > later / 10 * 3


@pytest.mark.parametrize(
    ("auth_type", "client", "served"),
    [
        ("RequireAndVerifyClientCert", "client", True),
        ("RequireAndVerifyClientCert", None, False),
        ("RequireAndVerifyClientCert", "stranger", False),
        ("VerifyClientCertIfGiven", "client", True),
        ("VerifyClientCertIfGiven", None, True),
        ("VerifyClientCertIfGiven", "stranger", False),
    ],
)
def test_client_certificates(
    pki: PKI, tmp_path: Path, auth_type: str, client: str | None, served: bool
) -> None:
    extra = f"  client_auth_type: {auth_type}\n  client_ca_file: {pki.ca.cert}\n"
    web = web_config(tmp_path, tls_section(pki, extra))
    context = client_context(pki, getattr(pki, client) if client else None)
    with serving(web=web) as server:
        if served:
            assert request(server, context)[::2] == (200, BODY)
        else:
            # Refused in the handshake, and closed without an answer. (Python's asyncio TLS
            # closes without sending the TLS alert, so the client sees the connection end,
            # not "unknown CA" or "certificate required".)
            with pytest.raises((ssl.SSLEOFError, http.client.RemoteDisconnected)):
                request(server, context)
            # The refused client took nothing away: the next good one is served.
            assert request(server, client_context(pki, pki.client))[0] == 200


def test_client_allowed_sans(pki: PKI, tmp_path: Path) -> None:
    extra = (
        "  client_auth_type: RequireAndVerifyClientCert\n"
        f"  client_ca_file: {pki.ca.cert}\n"
        "  client_allowed_sans: [prometheus]\n"
    )
    web = web_config(tmp_path, tls_section(pki, extra))
    with serving(web=web) as server:
        assert request(server, client_context(pki, pki.client))[::2] == (200, BODY)
        # Verified, but not one of the names: closed right after the handshake.
        with pytest.raises(http.client.RemoteDisconnected):
            request(server, client_context(pki, pki.other))


def test_tls_versions_and_plain_http_on_the_tls_port(pki: PKI, tmp_path: Path) -> None:
    web = web_config(tmp_path, tls_section(pki, "  min_version: TLS13\n"))
    with serving(web=web) as server:
        assert request(server, client_context(pki))[0] == 200
        with pytest.raises(ssl.SSLEOFError):  # refused, without the alert (see above)
            request(server, client_context(pki, maximum=ssl.TLSVersion.TLSv1_2))
        with socket.create_connection(server.server_address, timeout=5) as plain:
            plain.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
            assert plain.recv(100) == b""  # no TLS, no answer


def served_serial(server: MetricsServer, pki: PKI) -> int:
    host, port = server.server_address[:2]
    context = client_context(pki)
    with (
        socket.create_connection((host, port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number


def test_certificates_and_passwords_reload_without_a_restart(
    pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name, source in (("tls.crt", pki.server.cert), ("tls.key", pki.server.key)):
        shutil.copy(source, tmp_path / name)
    tls = "tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n"
    web = web_config(tmp_path, tls + f"basic_auth_users: {{p: '{bcrypt_hash(PASSWORD)}'}}\n")
    context = client_context(pki)
    old = {"Authorization": basic("p", PASSWORD)}
    new = {"Authorization": basic("p", "rotated")}
    with serving(web=web, web_check_every=0.0) as server:
        assert served_serial(server, pki) == pki.server.serial
        # A rotated certificate, written the way a Kubernetes Secret update lands: a rename.
        rotated = pki.ca.server(tmp_path / "..", f"rotated-{os.getpid()}")
        os.replace(rotated.key, tmp_path / "tls.key.new")
        os.replace(rotated.cert, tmp_path / "tls.crt.new")
        os.replace(tmp_path / "tls.key.new", tmp_path / "tls.key")
        os.replace(tmp_path / "tls.crt.new", tmp_path / "tls.crt")
        assert served_serial(server, pki) == rotated.serial

        (tmp_path / "web.yml").write_text(
            tls + f"basic_auth_users: {{p: '{bcrypt_hash('rotated')}'}}\n"
        )
        assert request(server, context, headers=new)[0] == 200
        assert request(server, context, headers=old)[0] == 401

        caplog.clear()
        with caplog.at_level(logging.INFO, "collector.webconfig"):
            (tmp_path / "web.yml").write_text(tls + "basic_auth_users: {p: plaintext}\n")
            assert request(server, context, headers=new)[0] == 200  # the previous one holds
            (tmp_path / "web.yml").write_text("basic_auth_users: {}\n")
            assert request(server, context, headers=new)[0] == 200  # still TLS, still auth
            assert request(server, context, headers=new)[0] == 200  # logged once, not per request
        web_yml = tmp_path / "web.yml"
        assert [r.getMessage() for r in caplog.records] == [
            f"{web_yml}: web config not applied, the previous one stays in force: "
            "basic_auth_users.p: must be a bcrypt hash ($2a$, $2b$ or $2y$, cost 4 to 31)",
            f"{web_yml}: web config not applied, the previous one stays in force: "
            "turning TLS on or off, or a new client_auth_type: restart",
        ]


def test_a_new_client_auth_type_waits_for_a_restart(
    pki: PKI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A handshake keeps the listening context's verify mode whatever context it is handed, so
    # applying the file would ask for certificates without checking them: it is refused.
    web = web_config(tmp_path, tls_section(pki))
    with serving(web=web, web_check_every=0.0) as server:
        extra = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca.cert}\n"
        (tmp_path / "web.yml").write_text(tls_section(pki, extra))
        with caplog.at_level(logging.INFO, "collector.webconfig"):
            assert request(server, client_context(pki))[0] == 200  # still no certificate asked
        logged = [r.getMessage() for r in caplog.records if r.name == "collector.webconfig"]
        assert logged == [
            f"{tmp_path / 'web.yml'}: web config not applied, the previous one stays in force: "
            "turning TLS on or off, or a new client_auth_type: restart"
        ]


def test_prometheus_scrapes_over_https_with_basic_auth_and_a_client_certificate(
    pki: PKI, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    assert binary, "the prometheus server is missing: `make test` installs Debian's prometheus"
    extra = f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki.ca.cert}\n"
    web = web_config(
        tmp_path,
        tls_section(pki, extra) + f"basic_auth_users: {{prometheus: '{bcrypt_hash(PASSWORD)}'}}\n",
    )
    with serving(web=web) as server:
        port = server.server_address[1]
        prom_port = free_port()

        def job(name: str, password: str, cert: bool) -> dict[str, Any]:
            tls: dict[str, Any] = {"ca_file": str(pki.ca.cert)}
            if cert:
                tls |= {"cert_file": str(pki.client.cert), "key_file": str(pki.client.key)}
            return {
                "job_name": name,
                "scheme": "https",
                "tls_config": tls,
                "basic_auth": {"username": "prometheus", "password": password},
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }

        prometheus_config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [
                job("good", PASSWORD, cert=True),
                job("wrong-password", "wrong", cert=True),
                job("no-certificate", PASSWORD, cert=False),
            ],
        }
        (tmp_path / "prometheus.yml").write_text(json.dumps(prometheus_config))
        prometheus = subprocess.Popen(
            [
                binary,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{prom_port}"
            wait_for(f"{url}/-/ready", 200, deadline=30)
            end = time.monotonic() + 30
            targets: dict[str, dict[str, Any]] = {}
            while time.monotonic() < end:
                status, body = get(f"{url}/api/v1/targets")
                assert status == 200
                active = json.loads(body)["data"]["activeTargets"]
                targets = {t["labels"]["job"]: t for t in active}
                if len(targets) == 3 and all(t["health"] != "unknown" for t in targets.values()):
                    break
                time.sleep(0.2)
            health = {job: (t["health"], t["lastError"]) for job, t in targets.items()}
            assert health["good"] == ("up", "")
            assert health["wrong-password"] == (
                "down",
                "server returned HTTP status 401 Unauthorized",
            )
            # Refused in the handshake; without a TLS alert (see above) Prometheus sees the
            # connection end or reset.
            state, error = health["no-certificate"]
            assert state == "down"
            assert re.fullmatch(
                rf'Get "https://127\.0\.0\.1:{port}/metrics": (EOF|read tcp 127\.0\.0\.1:\d+'
                rf"->127\.0\.0\.1:{port}: read: connection reset by peer)",
                error,
            ), error
            status, body = get(f"{url}/api/v1/query?query=test_value")
            (sample,) = json.loads(body)["data"]["result"]
            assert sample["metric"] == {
                "__name__": "test_value",
                "instance": f"127.0.0.1:{port}",
                "job": "good",
            }
            assert sample["value"][1] == "42"
        finally:
            prometheus.terminate()
            prometheus.wait(20)
