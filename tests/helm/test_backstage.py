"""The chart's Backstage source: config keys, the token's Secret and file, the egress rule."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes_validate
import pytest
from helm_python import HelmRenderError

from collector import config
from tests.helm.chart import FULLNAME, LAUNCH, NAMESPACE, SELECTOR, Rendered, merged, render

BACKSTAGE: dict[str, Any] = {
    "config": {"backstage": {"base_url": "https://backstage.example.com", "page_size": 200}},
    "backstage": {"token": {"value": "static-token-for-tests"}},
    "networkPolicy": {
        "enabled": True,
        "egress": {"backstage": {"cidrs": ["203.0.113.7/32"], "ports": [7007]}},
    },
}


def test_the_token_becomes_a_secret_and_the_variable_the_config_names() -> None:
    rendered = render(merged(LAUNCH, BACKSTAGE))
    assert rendered.config["backstage"] == {
        "base_url": "https://backstage.example.com",
        "interval": "15m",
        "timeout": "30s",
        "poll_timeout": "5m",
        "page_size": 200,
        "token_file": "/etc/adoption-collector/backstage-token",
    }
    config.parse({**rendered.config}, "chart")  # the collector accepts what the chart wrote
    secret = rendered.one("Secret", f"{FULLNAME}-backstage")
    assert secret["metadata"]["namespace"] == NAMESPACE
    assert base64.b64decode(secret["data"]["token"]) == b"static-token-for-tests"
    assert "env" not in rendered.container
    assert _token_source(rendered) == {
        "name": f"{FULLNAME}-backstage",
        "items": [{"key": "token", "path": "backstage-token", "mode": 0o440}],
    }
    annotations = rendered.deployment["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/backstage-secret" in annotations
    for doc in rendered.docs:
        if doc["kind"] not in ("ServiceMonitor", "PrometheusRule"):
            kubernetes_validate.validate(doc, "1.37", strict=True)


def test_an_existing_secret_is_referenced_not_created() -> None:
    values = merged(
        LAUNCH,
        BACKSTAGE,
        {"backstage": {"token": {"value": "", "existingSecret": "bs", "existingSecretKey": "t"}}},
    )
    rendered = render(values)
    assert rendered.all("Secret") == []
    assert _token_source(rendered) == {
        "name": "bs",
        "items": [{"key": "t", "path": "backstage-token", "mode": 0o440}],
    }


def _token_source(rendered: Rendered) -> object:
    """The Secret projected into the config directory as the Backstage token file."""
    (config_volume,) = [
        v
        for v in rendered.deployment["spec"]["template"]["spec"]["volumes"]
        if v["name"] == "config"
    ]
    (found,) = [
        source["secret"]
        for source in config_volume["projected"]["sources"]
        if "secret" in source and source["secret"]["items"][0]["path"] == "backstage-token"
    ]
    return found


def test_the_network_policy_opens_the_backstage_backend_only_when_configured() -> None:
    egress = render(merged(LAUNCH, BACKSTAGE)).one("NetworkPolicy")["spec"]["egress"]
    assert egress[-1] == {
        "ports": [{"port": 7007, "protocol": "TCP"}],
        "to": [{"ipBlock": {"cidr": "203.0.113.7/32"}}],
    }
    off = render(merged(LAUNCH, {"networkPolicy": {"enabled": True}})).one("NetworkPolicy")
    assert off["spec"]["podSelector"] == {"matchLabels": SELECTOR}
    assert len(off["spec"]["egress"]) == 2  # the API server and DNS: no Backstage
    assert "backstage" not in render(LAUNCH).config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"config": {"backstage": {"base_url": "https://b.example.com"}}},
            "config.backstage.base_url is set but no token: set backstage.token",
        ),
        (
            {"backstage": {"token": {"value": "t"}}},
            "backstage.token is set but config.backstage.base_url is not",
        ),
        (
            merged(BACKSTAGE, {"config": {"backstage": {"token_file": "/t"}}}),
            "config.backstage.token_file conflicts with backstage.token",
        ),
    ],
)
def test_a_half_configured_source_fails_naming_the_key(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(HelmRenderError, match=message):
        render(merged(LAUNCH, values))
