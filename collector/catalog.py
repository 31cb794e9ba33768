"""What a repository's files say about its workloads: Backstage catalog entries,
reusable-workflow calls, and which catalog Component selects a running workload.

The files come from every repository of the organisation, so anyone can put
anything in them: the parsers never raise, bound their work (file size, number
of documents, no recursive walks over YAML aliases) and report what they could
not read as short problem strings for the parse-error metric. `Links` is built
once per GitHub scan and queried for every workload of every Kubernetes poll, so
it indexes the components up front and `find` only does dictionary look-ups.
The module is pure: no I/O, no logging, no module-level mutable state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml

from collector.model import Component, Group
from collector.ownership import normalise_team
from collector.yamlproblem import yaml_problem

__all__ = [
    "KUBERNETES_ID_LABEL",
    "MAX_DOCUMENTS",
    "MAX_FILE_BYTES",
    "NO_LINKS",
    "LabelSelector",
    "LinkTarget",
    "Links",
    "ParseError",
    "parse_catalog_info",
    "parse_entity",
    "parse_workflow",
    "workflow_target",
]

MAX_FILE_BYTES = 1024 * 1024  # larger files are not parsed (a parse error)
MAX_DOCUMENTS = 100  # documents read from one catalog-info.yaml
KUBERNETES_ID_LABEL = "backstage.io/kubernetes-id"
_SOURCE_TEMPLATE = "backstage.io/source-template"
_LABEL_SELECTOR = "backstage.io/kubernetes-label-selector"
_KUBERNETES_NAMESPACE = "backstage.io/kubernetes-namespace"
_PROJECT_SLUG = "github.com/project-slug"
_SOURCE_LOCATION = "backstage.io/source-location"
# Every annotation a Component is read for, in the order `Component` takes them.
COMPONENT_ANNOTATIONS = (
    _SOURCE_TEMPLATE,
    KUBERNETES_ID_LABEL,
    _LABEL_SELECTOR,
    _KUBERNETES_NAMESPACE,
)


class ParseError(ValueError):
    """The message says what is wrong, e.g. `document 2 is a list, not a mapping`."""


# --- YAML --------------------------------------------------------------------

if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:  # libyaml when available: an order of magnitude faster, same safe constructors
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        super().flatten_mapping(node)
        # PyYAML before yaml/pyyaml#937 copies a merged key once per alias
        # reference, so nested `<<: [*a, *a, ...]` grows exponentially. Keeping
        # the last pair per key node gives the same mapping (the last wins) and
        # bounds each level by the nodes in the file; nested merges come here too.
        seen: set[int] = set()
        kept = []
        for pair in reversed(node.value):
            if id(pair[0]) not in seen:
                seen.add(id(pair[0]))
                kept.append(pair)
        node.value = kept[::-1]


def _documents(text: str, problems: list[str], limit: int, too_many: str) -> Iterator[Any]:
    """Each YAML document of `text` in turn, at most `limit`; what stops the
    reading (size, invalid YAML, too many documents) is appended to `problems`."""
    # Every character is one to four UTF-8 bytes: encode (a copy) only near the limit.
    if len(text) > MAX_FILE_BYTES or (
        len(text) * 4 > MAX_FILE_BYTES
        and len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES
    ):
        problems.append("larger than 1 MiB, not parsed")
        return
    try:
        for count, doc in enumerate(yaml.load_all(text, Loader=_Loader)):
            if count == limit:
                problems.append(too_many)
                return
            yield doc
    # Not only YAMLError: constructors raise ValueError for dates such as
    # 2024-13-45 and encoding raises on lone surrogates; none may escape.
    except Exception as exc:
        problems.append(yaml_problem(exc, whole=""))  # the caller names the file


def _clip(text: str, limit: int = 120) -> str:
    # Keys and messages come from the file: keep a hostile one from filling the log.
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Exact types: the safe loader builds only these (and dates, sets, bytes).
_KINDS: dict[type, str] = {
    bool: "a boolean",
    int: "a number",
    float: "a number",
    str: "a string",
    list: "a list",
    dict: "a mapping",
    type(None): "empty",
}


def _a(value: object) -> str:
    """What a YAML value is, for messages; never its contents, which may be a
    structure of shared references far too large to print."""
    return _KINDS.get(type(value)) or f"a {type(value).__name__}"


def _text(value: object, what: str, problems: list[str]) -> str | None:
    """A stripped non-empty string; None when absent or blank. Another type is a
    problem, and also None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    problems.append(f"{what} is {_a(value)}, not a string")
    return None


def _mapping(value: object, what: str, problems: list[str]) -> dict[Any, Any]:
    """`value` if a mapping, else empty; a present non-mapping is a problem."""
    if isinstance(value, dict):
        return value
    if value is not None:
        problems.append(f"{what} is {_a(value)}, not a mapping")
    return {}


# --- catalog-info.yaml ---------------------------------------------------------


def parse_catalog_info(text: str) -> tuple[tuple[Component, ...], list[str]]:
    """The `Component` entities of every YAML document of a catalog-info.yaml,
    and the problems met (empty when the file is clean). Never raises.

    Other kinds (API, System, Group...) are ignored; documents before an
    invalid-YAML point are kept. Only the few keys read are looked at, never the
    whole structure, so alias bombs cost nothing.
    """
    problems: list[str] = []
    components: list[Component] = []
    too_many = f"more than {MAX_DOCUMENTS} YAML documents, the rest not read"
    for number, doc in enumerate(_documents(text, problems, MAX_DOCUMENTS, too_many), 1):
        where = f"document {number}"
        if doc is None:  # `---` separators with nothing between them
            continue
        if not isinstance(doc, dict):
            problems.append(f"{where} is {_a(doc)}, not a mapping")
            continue
        # Case-sensitive, as Backstage validates kinds.
        if doc.get("kind") == "Component":
            component = _component(doc, where, problems)
            if component is not None:
                components.append(component)
    return tuple(components), problems


def _component(doc: dict[Any, Any], where: str, problems: list[str]) -> Component | None:
    metadata = doc.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        problems.append(f"{where}: Component skipped, metadata is {_a(metadata)}, not a mapping")
        return None
    metadata = metadata or {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name.strip():
        got = "missing" if name is None else "blank" if isinstance(name, str) else _a(name)
        problems.append(f"{where}: Component skipped, metadata.name is {got}")
        return None
    spec = _mapping(doc.get("spec"), f"{where}: spec", problems)
    notes = _mapping(metadata.get("annotations"), f"{where}: metadata.annotations", problems)
    owner = _text(spec.get("owner"), f"{where}: spec.owner", problems)
    source_template, kubernetes_id, selector, namespace = (
        _text(notes.get(key), f"{where}: {key}", problems) for key in COMPONENT_ANNOTATIONS
    )
    repository = _repository(
        _text(notes.get(_PROJECT_SLUG), f"{where}: {_PROJECT_SLUG}", problems),
        _text(notes.get(_SOURCE_LOCATION), f"{where}: {_SOURCE_LOCATION}", problems),
    )
    return Component(
        name.strip(), owner, source_template, kubernetes_id, selector, namespace, repository
    )


# `url:https://github.com/acme/checkout/tree/main/`: the first two path segments.
_SOURCE_URL = re.compile(r"url:https?://[^/\s]+/([^/\s]+)/([^/\s]+?)(?:\.git)?(?:/.*)?")
_SLUG = re.compile(r"[^/\s]+/[^/\s]+")


def _repository(slug: str | None, source_location: str | None) -> str | None:
    """owner/name of the Component's repository: its project slug, else its source location."""
    if slug is not None and _SLUG.fullmatch(slug):
        return slug
    match = _SOURCE_URL.fullmatch(source_location or "")
    return None if match is None else f"{match[1]}/{match[2]}"


def parse_entity(entity: object) -> tuple[Component | Group | None, list[str]]:
    """One entity of the Backstage catalog API: a Component or a Group, None for another
    kind (or one too malformed to use, with the problems). The API serves what
    catalog-info.yaml files hold, so a Component is read exactly as from a file. Never raises."""
    problems: list[str] = []
    if not isinstance(entity, dict):
        return None, [f"entity is {_a(entity)}, not a mapping"]
    kind = entity.get("kind")
    if kind == "Component":
        return _component(entity, "entity", problems), problems
    if kind == "Group":
        return _group(entity, problems), problems
    return None, problems


def _group(entity: dict[Any, Any], problems: list[str]) -> Group | None:
    metadata = _mapping(entity.get("metadata"), "Group: metadata", problems)
    name = normalise_team(_text(metadata.get("name"), "Group: metadata.name", problems))
    if name is None:
        problems.append("Group skipped, metadata.name is missing or unusable")
        return None
    spec = _mapping(entity.get("spec"), f"Group {name}: spec", problems)
    parent = normalise_team(_text(spec.get("parent"), f"Group {name}: spec.parent", problems))
    profile = _mapping(spec.get("profile"), f"Group {name}: spec.profile", problems)
    shown = _text(profile.get("displayName"), f"Group {name}: spec.profile.displayName", problems)
    return Group(name, parent, None if shown is None else _clip(shown, 200))


# --- GitHub Actions workflows --------------------------------------------------------


def parse_workflow(text: str) -> tuple[tuple[str, ...], list[str]]:
    """The `uses:` of every job (a reusable-workflow call) in file order, and the
    problems met. Step-level `uses` are actions, not workflows, and not read.
    Never raises."""
    problems: list[str] = []
    docs = list(_documents(text, problems, 1, "more than one YAML document, only the first read"))
    if not docs or not isinstance(docs[0], dict):
        if docs or not problems:  # an empty file is as unusable as a list
            problems.append(f"top level is {_a(docs[0] if docs else None)}, not a mapping")
        return (), problems
    # YAML 1.1 reads the top-level key `on` as True; only `jobs` is looked up.
    jobs = docs[0].get("jobs")
    if not isinstance(jobs, dict):
        problems.append("no jobs" if jobs is None else f"jobs is {_a(jobs)}, not a mapping")
        return (), problems
    uses: list[str] = []
    for job_id, job in jobs.items():
        where = f"job {_clip(str(job_id))!r}"
        if not isinstance(job, dict):
            problems.append(f"{where} is {_a(job)}, not a mapping")
            continue
        call = _text(job.get("uses"), f"{where}: uses", problems)
        if call is not None:
            uses.append(call)
    return tuple(uses), problems


# GitHub's shape for a call into another repository: exactly one `@`, the file
# directly under .github/workflows (no subdirectories), a non-empty ref.
_WORKFLOW_CALL = re.compile(
    r"([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+)/(\.github/workflows/[^/@\s]+\.ya?ml)@[^@\s]+"
)


def workflow_target(uses: str) -> str | None:
    """`owner/repo/.github/workflows/file.yml@ref` as `owner/repo/.github/workflows/file.yml`,
    owner and repo lower-cased (GitHub names are case-insensitive, paths are not).
    None for local calls (`./...`), `docker://` and anything else of another shape."""
    match = _WORKFLOW_CALL.fullmatch(uses.strip())
    if match is None:
        return None
    return f"{match[1].lower()}/{match[2].lower()}/{match[3]}"


# --- label selectors -------------------------------------------------------------

# Operators are tokens of their own, an identifier any other run of non-space
# characters; `<` and `>` are tokens only so that they are rejected clearly.
_TOKENS = re.compile(r"==|!=|[=!(),<>]|[^\s=!(),<>]+")
_SYMBOLS = frozenset({"==", "!=", "=", "!", "(", ")", ",", "<", ">"})


class LabelSelector:
    """A Kubernetes label selector in its string form, as the Backstage annotation
    backstage.io/kubernetes-label-selector holds it: comma-separated requirements
    `key=value`, `key==value`, `key!=value`, `key in (a, b)`, `key notin (a,b)`,
    `key`, `!key`, AND-ed with Kubernetes semantics (`!=` and `notin` hold when
    the label is absent). Raises ParseError on bad syntax."""

    __slots__ = ("_absent", "_equalities", "_in", "_not_in", "_present", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # `k=v` is checked as `k in (v)` and `k!=v` as `k notin (v)`: one loop each.
        self._in: list[tuple[str, frozenset[str]]] = []
        self._not_in: list[tuple[str, frozenset[str]]] = []
        self._present: list[str] = []
        self._absent: list[str] = []
        equalities: list[tuple[str, str]] = []
        tokens = _TOKENS.findall(text)[::-1]  # consumed with pop() from the end
        if not tokens:
            raise ParseError("empty label selector")
        while True:
            negated = tokens[-1] == "!"
            if negated:
                tokens.pop()
            key = tokens.pop() if tokens else ""
            if not key or key in _SYMBOLS:
                raise ParseError(f"empty key before {key!r}" if key else "empty key at the end")
            op = "," if negated or not tokens or tokens[-1] in (",", ")") else tokens.pop()
            if op == ",":
                (self._absent if negated else self._present).append(key)
            elif op in ("=", "==", "!="):
                value = "" if not tokens or tokens[-1] == "," else _value(tokens.pop())
                (self._not_in if op == "!=" else self._in).append((key, frozenset((value,))))
                if op != "!=":
                    equalities.append((key, value))
            elif op in ("in", "notin"):
                (self._in if op == "in" else self._not_in).append((key, _values(tokens)))
            else:
                raise ParseError(f"bad operator {op!r} after {key!r}: use =, ==, !=, in or notin")
            if not tokens:
                break
            tok = tokens.pop()
            if tok != ",":
                raise ParseError(
                    "unbalanced parentheses: unexpected ')'"
                    if tok == ")"
                    else f"expected ',' or the end, found {tok!r}"
                )
            if not tokens:
                raise ParseError("nothing after the last ','")
        self._equalities = tuple(equalities)

    @property
    def equalities(self) -> tuple[tuple[str, str], ...]:
        """The `key=value` / `key==value` requirements, for indexing."""
        return self._equalities

    def matches(self, labels: Mapping[str, str]) -> bool:
        get = labels.get
        for key, allowed in self._in:
            value = get(key)
            if value is None or value not in allowed:
                return False
        for key, denied in self._not_in:
            if get(key) in denied:
                return False
        for key in self._present:
            if key not in labels:
                return False
        for key in self._absent:  # noqa: SIM110 - a plain loop on the hot path
            if key in labels:
                return False
        return True


def _value(tok: str) -> str:
    if tok in _SYMBOLS:
        raise ParseError(f"expected a value, found {tok!r}")
    return tok


def _values(tokens: list[str]) -> frozenset[str]:
    """`(a, b)` after in/notin; an empty item is the empty value, as in Kubernetes."""
    if not tokens or tokens.pop() != "(":
        raise ParseError("expected '(' after in/notin")
    values: set[str] = set()
    while tokens:
        values.add("" if tokens[-1] in (",", ")") else _value(tokens.pop()))
        tok = tokens.pop() if tokens else ""
        if tok == ")":
            return frozenset(values)
        if tok not in (",", ""):
            raise ParseError(f"expected ',' or ')' in a value list, found {tok!r}")
    raise ParseError("unbalanced parentheses: missing ')'")


# --- which Component selects a workload -----------------------------------------


@dataclass(frozen=True, slots=True)
class LinkTarget:
    """What a catalog Component tells about the workloads it selects."""

    repository: str  # owner/name
    component: str  # metadata.name
    team: str | None  # the repository's team (already normalised by the caller)
    golden_path: str | None  # the golden path the repository is on, None if not golden


# (construction order, the selector left to check or None when the index key is
# the whole requirement, the only namespace it selects in or None for any, target)
_Entry = tuple[int, LabelSelector | None, str | None, LinkTarget]


class Links:
    """Which Component (if any) selects a workload, as the Backstage Kubernetes
    plugin decides: its backstage.io/kubernetes-label-selector annotation if
    present, else the label backstage.io/kubernetes-id=<that annotation, or the
    Component's metadata.name>, only in the namespace its
    backstage.io/kubernetes-namespace annotation names, when it has one. When
    several select a workload, the first in construction order wins.

    Each entry is indexed by one label (key, value) it requires: its
    kubernetes-id or its selector's first equality, so `find` only looks up the
    workload's own labels, however many components there are. Selectors without
    an equality (rare) are in a list checked on every call.
    """

    __slots__ = ("_by_label", "_scan", "_size", "entries", "invalid_selectors")

    def __init__(self, entries: Iterable[tuple[Component, LinkTarget]]) -> None:
        """An entry whose selector does not parse is left out and counted in
        `invalid_selectors`; falling back to its kubernetes-id would link
        workloads its owners never selected."""
        self.entries = tuple(entries)  # as given: tells whether a new scan changed anything
        self.invalid_selectors = 0
        by_label: dict[str, dict[str, list[_Entry]]] = {}
        scan: list[_Entry] = []
        order = 0
        for component, target in self.entries:
            check = None
            namespace = component.kubernetes_namespace
            if component.label_selector is not None and component.label_selector.strip():
                try:
                    check = LabelSelector(component.label_selector)
                except ParseError:
                    self.invalid_selectors += 1
                    continue
                if not check.equalities:
                    scan.append((order, check, namespace, target))
                    order += 1
                    continue
                key, value = check.equalities[0]
            else:
                kid = component.kubernetes_id
                key, value = KUBERNETES_ID_LABEL, kid if kid and kid.strip() else component.name
            entry = (order, check, namespace, target)
            by_label.setdefault(key, {}).setdefault(value, []).append(entry)
            order += 1
        self._by_label = by_label
        self._scan = tuple(scan)
        self._size = order

    def find(self, labels: Mapping[str, str], namespace: str | None = None) -> LinkTarget | None:
        """The target of the Component selecting a workload with `labels` in `namespace`
        (None: a namespace no Component names)."""
        best: _Entry | None = None
        by_label = self._by_label
        for key, value in labels.items():
            values = by_label.get(key)
            bucket = None if values is None else values.get(value)
            # A bucket is in construction order: its first match is its best,
            # and an entry after the best so far cannot win.
            for entry in bucket or ():
                if best is not None and entry[0] > best[0]:
                    break
                if (entry[2] is None or entry[2] == namespace) and (
                    entry[1] is None or entry[1].matches(labels)
                ):
                    best = entry
                    break
        for entry in self._scan:
            if best is not None and entry[0] > best[0]:
                break
            if (
                (entry[2] is None or entry[2] == namespace)
                and entry[1] is not None
                and entry[1].matches(labels)
            ):
                best = entry
                break
        return None if best is None else best[3]

    @property
    def unindexed(self) -> int:
        """Entries checked on every `find`: selectors without an equality."""
        return len(self._scan)

    def __len__(self) -> int:
        """Usable entries: all but those with an invalid selector."""
        return self._size


NO_LINKS = Links(())
