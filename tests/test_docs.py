"""The README, LICENSE and CHANGELOG say what the code does."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from collector import config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_opens_with_what_it_is_then_the_two_commands() -> None:
    title, intro, commands = README.split("\n\n", 3)[:3]
    assert title == "# adoption-collector"
    sentences = [s for s in re.split(r"(?<=\.)\s+", intro.replace("\n", " ")) if s]
    assert len(sentences) == 2, sentences
    assert [line.split("#")[0].strip() for line in commands.splitlines()] == [
        "```sh",
        "make demo",
        "make test",
        "```",
    ]


def test_readme_cites_no_issue_numbers() -> None:
    assert re.findall(r"(?i)\bissues?\s*#?\d+|(?:^|[\s(])#\d+\b", README) == []


def test_every_config_key_is_in_the_reference() -> None:
    reference = README.split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", reference, flags=re.M)
    documented = {key for cell in first_cells for key in re.findall(r"`([^`]+)`", cell)}

    def keys(model: type[config.BaseModel], prefix: str) -> list[str]:
        found = []
        for name, field in model.model_fields.items():
            path = f"{prefix}{name}"
            inner = config._optional(field.annotation)
            if config.get_origin(inner) is tuple:
                inner = config.get_args(inner)[0]
                path += "[]"
            if (
                isinstance(inner, type)
                and issubclass(inner, config.BaseModel)
                and any(k.startswith(path) and k != path for k in documented)
            ):
                found += keys(inner, f"{path}.")
            else:
                found.append(path)
        return found

    missing = [k for k in keys(config.Settings, "") if not any(k.startswith(d) for d in documented)]
    assert missing == []


def test_license_matches_what_the_packages_declare() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "END OF TERMS AND CONDITIONS" in text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    chart = yaml.safe_load((ROOT / "helm" / "adoption-collector" / "Chart.yaml").read_text())
    assert project["license"] == chart["annotations"]["artifacthub.io/license"] == "Apache-2.0"


def test_changelog_notes_the_system_namespace_change() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "`kubernetes.track_system_namespaces: true`" in changelog
