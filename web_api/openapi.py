"""The OpenAPI 3.1 document and the reference page, made from the registry: the same
models the handlers check requests with and answer with."""

from __future__ import annotations

import html
from typing import Any

from pydantic import BaseModel

from web_api.problems import KINDS, Problem
from web_api.registry import Operation, Registry
from workflows.api_keys import SCOPES

REF = "#/components/schemas/{model}"
VERSION = "1.0.0"
TITLE = "Inkpost integration API"
DESCRIPTION = (
    "JSON over HTTPS. Authenticate with `Authorization: Bearer <key>`; keys are made with "
    "`inkpost api-key create NAME --scope read --scope write`. A key acts as its "
    "organisation with its scopes (read, write, sign, admin), and a key limited to named "
    "clients sees nothing else. Lists are paginated: pass a page's `next_cursor` as "
    "`cursor`. A `POST` with an `Idempotency-Key` header may be retried: the retry gets the "
    "first answer and creates nothing new (while the first is still being answered, 409 "
    "with `Retry-After`). Refusals are RFC 9457 problem details."
)
ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}


class Schemas:
    """The components/schemas section, filled as models are referred to."""

    def __init__(self) -> None:
        self.found: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], *, mode: str) -> dict[str, str]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, nested in schema.pop("$defs", {}).items():
            self._keep(name, nested)
        name = model.__name__
        self._keep(name, schema)
        return {"$ref": REF.format(model=name)}

    def inline(self, model: type[BaseModel], *, mode: str) -> dict[str, Any]:
        schema = model.model_json_schema(ref_template=REF, mode=mode)  # type: ignore[arg-type]
        for name, nested in schema.pop("$defs", {}).items():
            self._keep(name, nested)
        return schema

    def _keep(self, name: str, schema: dict[str, Any]) -> None:
        known = self.found.get(name)
        if known is not None and known != schema:
            raise ValueError(f"two different models are both named {name}")
        self.found[name] = schema


def document(registry: Registry) -> dict[str, Any]:
    schemas = Schemas()
    problem_ref = schemas.ref(Problem, mode="serialization")
    paths: dict[str, dict[str, Any]] = {}
    for operation in registry.operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, schemas, problem_ref
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/api/v1"}],
        "tags": sorted(
            ({"name": tag} for tag in {op.tag for op in registry.operations}),
            key=lambda tag: tag["name"],
        ),
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.found.items())),
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key of the organisation: `inkpost api-key create`.",
                }
            },
        },
    }


def _operation(
    operation: Operation, schemas: Schemas, problem_ref: dict[str, str]
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": [operation.tag],
        "x-scope": operation.scope,
        "parameters": _parameters(operation, schemas),
        "responses": _responses(operation, schemas, problem_ref),
    }
    if operation.description:
        spec["description"] = operation.description
    if operation.method == "POST":
        spec["parameters"].append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Retrying with the same key returns the first answer.",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            }
        )
    if operation.body is not None:
        spec["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schemas.ref(operation.body, mode="validation")}
            },
        }
    if operation.upload is not None:
        form = schemas.inline(operation.upload, mode="validation")
        form["properties"]["file"] = {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "The file, sent after the other fields.",
        }
        form["required"] = [*form.get("required", []), "file"]
        form.pop("title", None)
        spec["requestBody"] = {
            "required": True,
            "content": {"multipart/form-data": {"schema": form}},
        }
    return spec


def _parameters(operation: Operation, schemas: Schemas) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": dict(ID_SCHEMA)}
        for name in operation.path_params
    ]
    if operation.query is not None:
        schema = schemas.inline(operation.query, mode="validation")
        required = set(schema.get("required", []))
        for name, field in schema.get("properties", {}).items():
            field = _without_null(field)
            parameter: dict[str, Any] = {
                "name": name,
                "in": "query",
                "required": name in required,
                "schema": field,
            }
            if "description" in field:
                parameter["description"] = field["description"]
            parameters.append(parameter)
    return parameters


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent rather than null: drop the null branch."""
    schema = dict(schema)
    options = schema.pop("anyOf", None)
    if options is None:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    if len(kept) == 1:
        schema.update(kept[0])
    else:
        schema["anyOf"] = kept
    if schema.get("default") is None:
        schema.pop("default", None)
    return schema


def _responses(
    operation: Operation, schemas: Schemas, problem_ref: dict[str, str]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if operation.binary is not None:
        responses["200"] = {
            "description": "The file.",
            "content": {operation.binary: {"schema": {"type": "string", "format": "binary"}}},
        }
    else:
        assert operation.response is not None, operation.operation_id
        responses[str(operation.status)] = {
            "description": "Done." if operation.status != 201 else "Created.",
            "content": {
                "application/json": {
                    "schema": schemas.ref(operation.response, mode="serialization")
                }
            },
        }
    by_status: dict[int, list[str]] = {}
    for kind in operation.all_problems:
        by_status.setdefault(kind.status, []).append(kind.type)
    for status, types in sorted(by_status.items()):
        response: dict[str, Any] = {
            "description": "A problem: " + ", ".join(types),
            "content": {"application/problem+json": {"schema": problem_ref}},
        }
        if status in (409, 429, 503):
            response["headers"] = {
                "Retry-After": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "string"},
                }
            }
        responses[str(status)] = response
    return responses


def reference_page(registry: Registry) -> str:
    """A plain page listing every operation: no script, no style, nothing fetched."""
    rows = []
    for op in registry.operations:
        reads = op.body or op.upload
        answers = op.response.__name__ if op.response is not None else f"file ({op.binary})"
        problems = ", ".join(kind.name for kind in op.all_problems)
        rows.append(
            "<tr>"
            f"<td><code>{html.escape(op.method)}</code></td>"
            f"<td><code>/api/v1{html.escape(op.path)}</code></td>"
            f"<td>{html.escape(op.summary)}</td>"
            f"<td>{html.escape(op.scope)}</td>"
            f"<td>{html.escape(reads.__name__) if reads is not None else ''}</td>"
            f"<td>{html.escape(answers)}</td>"
            f"<td>{html.escape(problems)}</td>"
            "</tr>"
        )
    kinds = "".join(
        f"<li><code>{html.escape(kind.type)}</code>: {kind.status} {html.escape(kind.title)}</li>"
        for kind in KINDS
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(TITLE)}</title></head><body>"
        f"<h1>{html.escape(TITLE)}</h1><p>{html.escape(DESCRIPTION)}</p>"
        '<p>The machine-readable description: <a href="openapi.json">openapi.json</a> '
        f"(OpenAPI 3.1). Scopes: {', '.join(SCOPES)}.</p>"
        "<h2>Operations</h2><table><thead><tr><th>Method</th><th>Path</th><th>What</th>"
        "<th>Scope</th><th>Takes</th><th>Answers</th><th>Problems</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<h2>Problem types</h2><ul>{kinds}</ul></body></html>"
    )
