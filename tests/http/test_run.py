"""`run` with a web config, as a real process: HTTPS, basic auth on /metrics, open probes."""

from __future__ import annotations

import base64
import http.client
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

from collector.simulator.kube import KubeSimulator
from tests.cluster import TOKEN, seed_small, write_config
from tests.conftest import CANARY
from tests.http.conftest import PKI, bcrypt_hash
from tests.records import parse_samples
from tests.test_service import free_port


def test_run_serves_https_with_basic_auth(pki: PKI, tmp_path: Path) -> None:
    web = tmp_path / "web" / "web-config.yml"
    web.parent.mkdir()
    web.write_text(
        "tls_server_config: {cert_file: ../tls.crt, key_file: ../tls.key}\n"
        f"basic_auth_users: {{prometheus: '{bcrypt_hash(CANARY)}'}}\n"
    )
    (tmp_path / "tls.crt").write_bytes(pki.server.cert.read_bytes())
    (tmp_path / "tls.key").write_bytes(pki.server.key.read_bytes())
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    with KubeSimulator(token=TOKEN) as sim:
        seed_small(sim)
        port = free_port()
        config_path = write_config(
            tmp_path,
            {"prod-eu": sim},
            server={"listen": f"127.0.0.1:{port}", "web_config_file": str(web)},
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "collector", "run", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        def get(path: str, password: str | None = None) -> tuple[int, bytes]:
            headers = {}
            if password is not None:
                token = base64.b64encode(f"prometheus:{password}".encode()).decode()
                headers["Authorization"] = f"Basic {token}"
            connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=5)
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                return response.status, response.read()
            finally:
                connection.close()

        try:
            end = time.monotonic() + 20
            while True:
                try:
                    if get("/readyz") == (200, b"ready\n"):  # no credentials for the probes
                        break
                except OSError:
                    pass
                assert time.monotonic() < end, "never ready"
                time.sleep(0.05)
            assert get("/healthz") == (200, b"ok\n")
            assert get("/metrics") == (401, b"unauthorized\n")
            assert get("/metrics", "wrong") == (401, b"unauthorized\n")
            status, body = get("/metrics", CANARY)
            assert status == 200
            assert parse_samples(body.decode())["adoption_voluntary_ratio", ()] == 1.0
            process.send_signal(signal.SIGTERM)
            assert process.wait(10) == 0
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        stderr = process.stderr.read().decode() if process.stderr else ""
        assert (
            f"serving metrics on https://127.0.0.1:{port}/metrics (TLS, 1 basic auth user(s))"
            in stderr
        )
        assert CANARY not in stderr
