"""Fixtures of the chart tests: one render per named case, shared by every module."""

from __future__ import annotations

import pytest

from tests.helm.chart import CASES, Rendered, case_values, render


@pytest.fixture(scope="session", params=CASES)
def any_case(request: pytest.FixtureRequest) -> Rendered:
    return render(case_values(request.param))


@pytest.fixture(scope="session")
def default() -> Rendered:
    return render(case_values("default"))


@pytest.fixture(scope="session")
def everything() -> Rendered:
    return render(case_values("everything"))


@pytest.fixture(scope="session")
def github_app() -> Rendered:
    return render(case_values("github-app"))


@pytest.fixture(scope="session")
def namespaced() -> Rendered:
    return render(case_values("namespaced"))
