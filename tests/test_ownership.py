from __future__ import annotations

import pytest

from collector import config
from collector.ownership import namespace_team, normalise_team, workload_team

KEYS = ("team", "owner")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("payments", "payments"),
        ("Payments", "payments"),
        ("  Payments  ", "payments"),
        ("group:default/Payments", "payments"),
        ("default/payments", "payments"),
        ("Group:payments", "payments"),
        ("group:payments", "payments"),
        # A colon after the first slash is part of the name, not a kind separator.
        ("default/team:x", "team:x"),
        ("group:default/team:x", "team:x"),
        ("user:default/jane.doe", "jane.doe"),
        (" group : default / Payments ", "payments"),
        ("group:/payments", "payments"),
        (":payments", "payments"),
        ("/payments", "payments"),
        ("team-a_b.c", "team-a_b.c"),
        ("Zürich-Team", "zürich-team"),
        ("group:default/Straße", "straße"),
        ("チーム", "チーム"),
        (None, None),
        ("", None),
        ("   ", None),
        ("\t\n", None),
        ("group:", None),
        ("group:default/", None),
        ("group:default/  ", None),
        ("default/", None),
        ("/", None),
        (":", None),
        # JSON can escape a lone surrogate; no UTF-8 exposition can carry one.
        ("pay\ud800ments", "pay\ufffdments"),
        ("\U0001f680 Rockets", "\U0001f680 rockets"),
        ('a "quoted"\\team\nname', 'a "quoted"\\team\nname'),
        ("x" * 253, "x" * 253),
        ("group:default/" + "x" * 253, "x" * 253),
        ("x" * 254, None),  # no team name is this long: garbage, not a team
        (" " * 300 + "payments", "payments"),
    ],
)
def test_normalise_team(raw: str | None, expected: str | None) -> None:
    assert normalise_team(raw) == expected


@pytest.mark.parametrize(
    ("workload_labels", "namespace_labels", "static", "expected"),
    [
        pytest.param({"team": "A"}, {"team": "b"}, {"shop": "c"}, "a", id="workload-wins"),
        pytest.param({}, {"team": "B"}, {"shop": "c"}, "b", id="namespace-next"),
        pytest.param({}, {}, {"shop": "group:default/C"}, "c", id="static-map-last"),
        pytest.param({}, {}, {"other": "c"}, None, id="static-map-other-namespace"),
        pytest.param({}, {}, {}, None, id="nothing"),
        # key order within one source: first key wins
        pytest.param({"team": "a", "owner": "z"}, {}, {}, "a", id="first-key-wins"),
        pytest.param({"owner": "z"}, {"team": "b"}, {}, "z", id="later-key-on-workload-beats-ns"),
        # empty values are skipped, not taken as "no team"
        pytest.param({"team": "", "owner": "z"}, {}, {}, "z", id="empty-skipped-next-key"),
        pytest.param({"team": "  "}, {"team": "b"}, {}, "b", id="blank-skipped-to-namespace"),
        pytest.param({"team": "group:"}, {"team": "b"}, {}, "b", id="prefix-only-skipped"),
        pytest.param({"team": ""}, {"team": ""}, {"shop": "c"}, "c", id="empty-both-to-static"),
        pytest.param({"team": ""}, {}, {"shop": ""}, None, id="empty-static-is-none"),
        pytest.param({"team": ""}, {}, {"shop": "  "}, None, id="blank-static-is-none"),
        # keys not in label_keys are ignored
        pytest.param({"squad": "x"}, {}, {}, None, id="unlisted-key-ignored"),
        pytest.param({"Team": "x"}, {}, {}, None, id="key-case-sensitive"),
        pytest.param({"team": "Zürich"}, {}, {}, "zürich", id="non-ascii-kept"),
        pytest.param({}, {"owner": "Équipe"}, {}, "équipe", id="non-ascii-namespace"),
        pytest.param({}, {}, {"shop": "Ñandú"}, "ñandú", id="non-ascii-static"),
    ],
)
def test_workload_team(
    workload_labels: dict[str, str],
    namespace_labels: dict[str, str],
    static: dict[str, str],
    expected: str | None,
) -> None:
    host_team = namespace_team("shop", namespace_labels, KEYS, static)
    assert workload_team(workload_labels, KEYS, host_team) == expected


def test_workload_team_no_label_keys_uses_static_map() -> None:
    host_team = namespace_team("shop", {"team": "b"}, (), {"shop": "C"})
    assert workload_team({"team": "a"}, (), host_team) == "c"


def test_workload_team_with_config_defaults() -> None:
    own = config.Ownership.model_validate({"namespaces": {"shop": "group:default/Shop"}})
    shop = namespace_team("shop", {}, own.labels, own.namespaces)
    other = namespace_team("other", {}, own.labels, own.namespaces)
    assert workload_team({"owner": "A"}, own.labels, shop) == "a"
    assert workload_team({}, own.labels, shop) == "shop"
    assert workload_team({}, own.labels, other) is None


@pytest.mark.parametrize(
    ("namespace_labels", "static", "expected"),
    [
        pytest.param({"team": "Payments"}, {"shop": "x"}, "payments", id="label-wins"),
        pytest.param({"owner": "group:default/Ops"}, {}, "ops", id="second-key"),
        pytest.param({"team": "", "owner": "ops"}, {}, "ops", id="empty-skipped"),
        pytest.param({"team": ""}, {"shop": "X"}, "x", id="empty-falls-to-static"),
        pytest.param({}, {"shop": "group:default/X"}, "x", id="static"),
        pytest.param({}, {"shop": ""}, None, id="static-empty"),
        pytest.param({}, {}, None, id="nothing"),
        pytest.param({"squad": "x"}, {}, None, id="unlisted-key"),
        pytest.param({"team": "Zürich"}, {}, "zürich", id="non-ascii-kept"),
    ],
)
def test_namespace_team(
    namespace_labels: dict[str, str], static: dict[str, str], expected: str | None
) -> None:
    assert namespace_team("shop", namespace_labels, KEYS, static) == expected
