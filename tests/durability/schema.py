"""The state file's version-3 and version-4 tables as the durability tests expect them, stated
once and independently of collector.state (a test must not read its expectation from the
code)."""

V3_COLUMNS = {
    "teams": [
        "team",
        "first_seen",
        "first_deploy",
        "updated_at",
        "first_seen_by",
        "first_deploy_by",
    ],
    "migrations": ["version", "from_version", "applied_at", "collector_version"],
}

# Version 4 adds the deploy counting and the daily history, leaving the version-3 tables as
# they were.
V4_COLUMNS = {
    **V3_COLUMNS,
    "generations": ["cluster", "uid", "generation"],
    "baselines": ["cluster", "started"],
    "deploys": ["scope", "name", "path", "total"],
    "days": [
        "day",
        "active",
        "adopted",
        "mandated",
        "ratio",
        "voluntary_ratio",
        "target",
        "polled_at",
    ],
}
