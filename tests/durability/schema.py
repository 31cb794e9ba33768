"""The state file's version-3 tables as the durability tests expect them, stated once and
independently of collector.state (a test must not read its expectation from the code)."""

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
