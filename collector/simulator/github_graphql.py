"""GitHub's GraphQL API as the simulated organisation answers it: GitHub's own schema, executed.

Every query is parsed and validated against GitHub's published schema (the
`schema.graphql` of the npm package @octokit/graphql-schema, vendored in
`github_schema/` with its licence), so a query GitHub would refuse (a field that
does not exist, an argument of the wrong type, an unused variable) is refused
here too, with graphql-core's message, and a test of the collector fails as its
scan against GitHub would. Execution resolves the types an organisation scan
reads from plain dicts (see `GitHubSimulator`); any other field answers an error
naming it rather than a silent null.

The published SDL repeats two fields of one type and breaks a few of GraphQL's
rules for deprecations: the repeats are dropped and the schema is built without
validating it, as the npm package's own users do.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLResolveInfo,
    GraphQLSchema,
    build_ast_schema,
    execute_sync,
    parse,
    validate,
)
from graphql.language import (
    DefinitionNode,
    FieldDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
)

SCHEMA_FILE = Path(__file__).parent / "github_schema" / "schema.graphql"
_WITH_FIELDS = (ObjectTypeDefinitionNode, InterfaceTypeDefinitionNode)
_MAX_CACHED_QUERIES = 64  # a scan sends one query text; tests send a handful


class GitHubError(GraphQLError):
    """An error GitHub reports with a `type` (NOT_FOUND, RATE_LIMITED, ...) beside the message."""

    def __init__(self, message: str, github_type: str | None = None) -> None:
        super().__init__(message)
        self.github_type = github_type


@functools.cache
def schema() -> GraphQLSchema:
    """GitHub's schema, built once per process (about half a second)."""
    document = parse(SCHEMA_FILE.read_text(encoding="utf-8"), no_location=True)
    definitions = tuple(_without_repeated_fields(d) for d in document.definitions)
    return build_ast_schema(
        dataclasses.replace(document, definitions=definitions),
        assume_valid=True,
        assume_valid_sdl=True,
    )


def _without_repeated_fields(definition: DefinitionNode) -> DefinitionNode:
    if not isinstance(definition, _WITH_FIELDS) or not definition.fields:
        return definition
    fields = definition.fields
    seen: set[str] = set()
    kept: list[FieldDefinitionNode] = []
    for field in fields:
        if field.name.value not in seen:
            seen.add(field.name.value)
            kept.append(field)
    if len(kept) == len(fields):
        return definition
    return dataclasses.replace(definition, fields=tuple(kept))


_documents: dict[str, DocumentNode | list[GraphQLError]] = {}


def _document(query: str) -> DocumentNode | list[GraphQLError]:
    """The parsed query, or why GitHub's schema refuses it; validated once per query text."""
    known = _documents.get(query)
    if known is not None:
        return known
    try:
        document = parse(query)
    except GraphQLError as error:
        result: DocumentNode | list[GraphQLError] = [error]
    else:
        errors = validate(schema(), document)
        result = errors if errors else document
    if len(_documents) >= _MAX_CACHED_QUERIES:
        _documents.clear()
    _documents[query] = result
    return result


def answer(
    query: str,
    variables: Mapping[str, Any] | None,
    operation_name: str | None,
    root: Mapping[str, Any],
) -> dict[str, Any]:
    """GitHub's JSON answer to a query: `data` (absent when the query was refused) and
    `errors` (when there are any). `root` maps Query's fields to values or to callables
    taking (info, **arguments)."""
    document = _document(query)
    if isinstance(document, list):
        return {"errors": [_formatted(e) for e in document]}
    result = execute_sync(
        schema(),
        document,
        root_value=root,
        variable_values=dict(variables) if variables is not None else None,
        operation_name=operation_name,
        field_resolver=_resolve,
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_formatted(e) for e in result.errors]
    return body


def _resolve(source: Any, info: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
    """A field's value from its parent dict: a value, or a callable given the arguments.
    A field the simulator does not model is an error, never a silent null."""
    name = info.field_name
    if not isinstance(source, Mapping) or name not in source:
        raise GitHubError(f"{info.parent_type.name}.{name} is unsupported by the simulator")
    value = source[name]
    if callable(value):
        resolver: Callable[..., Any] = value
        return resolver(info, **arguments)
    return value


def _formatted(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = error.original_error if error.original_error is not None else error
    github_type = getattr(original, "github_type", None)
    if github_type is not None:
        formatted = {"type": github_type, **formatted}
    return formatted
