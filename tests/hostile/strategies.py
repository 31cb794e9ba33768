"""Hypothesis strategies for hostile input: odd text, JSON of the wrong shape, huge values.

Text is any Unicode but lone surrogates (which UTF-8, hence the simulator's JSON, cannot
carry; the parser path gets its own test for them), control characters included.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

Strategy = st.SearchStrategy[Any]

# Random locally, derandomised under CI: the profiles in tests/conftest.py, which this
# inherits. No example database: it would be written into the checkout.
HOSTILE = settings(
    deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)

BIG = "x" * (256 * 1024)  # an annotation as large as the API server allows (total)

NASTY = [
    "",
    " ",
    "\t",
    "\n",
    "\\",
    '"',
    "\\n",
    '\\"',
    "{",
    "}",
    "=",
    ",",
    " # ",
    "_other",
    "_Other",
    "group:",
    "group:default/Payments",
    "default/",
    "Payments",
    "payments",
    "yes",
    "ünïcødé Team",
    "\x00",
    "\x7f",
    "\x85",
    "\u2028",
    "\ufeff",
    "\U0001f680",
    "a\r\nb",
    "NaN",
    "x" * 254,
]

odd_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
text: Strategy = st.one_of(st.sampled_from(NASTY), odd_text)

json_junk: Strategy = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=6,
)


def _mostly(common: Strategy, rare: Strategy) -> Strategy:
    # one_of() would drop a repeated branch: weight through a draw instead.
    return st.sampled_from([True, True, True, False]).flatmap(lambda ok: common if ok else rare)


def _fields(required: dict[str, Strategy], optional: dict[str, Strategy]) -> Strategy:
    return st.fixed_dictionaries(required, optional=optional)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


_ZONES = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=14)), dt.timezone(dt.timedelta(hours=-12))]
)
timestamp: Strategy = st.one_of(
    st.datetimes(
        min_value=dt.datetime(2025, 1, 1), max_value=dt.datetime(2027, 1, 1), timezones=_ZONES
    ).map(_rfc3339),
    st.datetimes(min_value=dt.datetime(2100, 1, 1)).map(dt.datetime.isoformat),  # future, naive
    st.datetimes(timezones=_ZONES).map(_rfc3339),  # anywhere in years 1 to 9999
    st.sampled_from(
        [
            "",
            "not a time",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
            "9999-12-31T23:59:59-14:00",
            "2026-03-01",
            "2026-03-01T00:00:00.123456789Z",
            "2026-03-01T00:00:00+25:00",
        ]
    ),
    json_junk,
)

label_map: Strategy = st.one_of(
    st.dictionaries(
        st.sampled_from(["team", "owner", "golden", "app"]) | text,
        _mostly(text, json_junk),
        max_size=4,
    ),
    json_junk,
)
annotation_map: Strategy = st.one_of(
    st.dictionaries(
        st.sampled_from(["platform.example.com/template", "kubectl.kubernetes.io/last-applied"])
        | text,
        st.sampled_from(["", "service", BIG]) | text | json_junk,
        max_size=3,
    ),
    json_junk,
)
_manager = _fields(
    {},
    {
        "manager": st.sampled_from(
            ["helm", "argocd-controller", "kubectl-client-side-apply", "kube-controller-manager"]
        )
        | text
        | json_junk,
        "time": timestamp,
        "fieldsV1": st.sampled_from([{"f:spec": {}}, {"f:status": {}}, {}]) | json_junk,
    },
)
managed_fields: Strategy = st.one_of(st.lists(_manager | json_junk, max_size=3), json_junk)
owner_references: Strategy = st.one_of(
    st.lists(
        _fields(
            {},
            {
                "kind": st.sampled_from(["CronJob", "ReplicaSet"]) | json_junk,
                "controller": st.sampled_from([True, False, "true"]) | json_junk,
            },
        ),
        max_size=2,
    ),
    json_junk,
)

NAMESPACES = ["pay", "bill", "misc", "kube-system"]
namespace_name: Strategy = _mostly(st.sampled_from(NAMESPACES), text | json_junk)
object_name: Strategy = st.one_of(st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z"), text, json_junk)

# Team names as labels may carry them: escapes, control characters, the reserved `_other`.
TEAMS = [
    "payments",
    "Billing",
    "group:default/Search",
    'a "quoted" team',
    "back\\slash\\",
    "new\nline",
    "cr\rteam",
    "_other",
    "ünïcødé",
    "\U0001f680",
    "tab\tteam",
    "nul\x00team",
    "x" * 253,
]
team: Strategy = st.one_of(st.sampled_from(TEAMS), odd_text)
plausible_labels = _fields(
    {},
    {
        "team": team,
        "owner": team,
        "golden": st.sampled_from(["yes", "no", ""]),
        "app": st.sampled_from(["svc-api", "web1", "worker"]),
    },
)


def _item(metadata: Strategy) -> Strategy:
    """A list item around `metadata`, or without it, or not an object at all."""
    good = _fields({"metadata": metadata}, {})
    odd = _fields({}, {"metadata": metadata | json_junk, "kind": json_junk})
    return _mostly(good, odd | json_junk)


def _plausible(metadata: dict[str, Strategy]) -> Strategy:
    return _fields({"metadata": _fields(metadata, {})}, {})


# Mostly objects an API server could send, so teams and folding are exercised; the rest
# is anything JSON can carry.
namespace_item = _mostly(
    _plausible(
        {
            "name": st.sampled_from(NAMESPACES),
            "labels": plausible_labels,
            "creationTimestamp": timestamp,
        }
    ),
    _item(
        _fields(
            {"name": namespace_name},
            {"labels": label_map, "annotations": annotation_map, "creationTimestamp": timestamp},
        )
    ),
)
workload_item = _mostly(
    _plausible(
        {
            "name": st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z"),
            "namespace": st.sampled_from(NAMESPACES),
            "labels": plausible_labels,
            "annotations": annotation_map,
            "creationTimestamp": timestamp,
            "managedFields": managed_fields,
        }
    ),
    _item(
        _fields(
            {"name": object_name, "namespace": namespace_name},
            {
                "labels": label_map,
                "annotations": annotation_map,
                "creationTimestamp": timestamp,
                "managedFields": managed_fields,
                "ownerReferences": owner_references,
            },
        )
    ),
)
kind = st.sampled_from(["Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job"])
