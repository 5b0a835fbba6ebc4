"""The keys earful.toml may hold and the EARFUL_ variables that set them, read off the settings model itself.

A misspelled key would otherwise be dropped without a word (`[sla] critcal = 5` leaves the default in force), and
a hint written by hand can name a variable that does not exist. Walking the model means every suggestion, every
"did you mean" and every variable a message names is one the settings really have.
"""

from __future__ import annotations

import difflib
import re
import tomllib
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Shape:
    """What a value of the model may be: a section (a model), a list or a table of something, one of several
    sections told apart by a `tag` key (the alert rules' `kind`), or a plain value."""

    kind: str  # "model", "list", "dict", "choice", "value"
    model: type[BaseModel] | None = None
    item: Shape | None = None
    choices: Mapping[str, type[BaseModel]] = field(default_factory=dict)
    tag: str | None = None


VALUE = Shape("value")


def shape_of(annotation: Any, discriminator: Any = None) -> Shape:
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *metadata = get_args(annotation)
        tags = [m.discriminator for m in metadata if isinstance(m, FieldInfo) and m.discriminator]
        return shape_of(inner, tags[0] if tags else discriminator)
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        if len(options) == 1:
            return shape_of(options[0], discriminator)
        models = [a for a in options if isinstance(a, type) and issubclass(a, BaseModel)]
        if models and len(models) == len(options) and isinstance(discriminator, str):
            return Shape("choice", choices=_tagged(models, discriminator), tag=discriminator)
        return VALUE
    if origin in (list, tuple, set, frozenset, Sequence):
        args = get_args(annotation)
        return Shape("list", item=shape_of(args[0]) if args else VALUE)
    if origin in (dict, Mapping):
        args = get_args(annotation)
        return Shape("dict", item=shape_of(args[1]) if len(args) == 2 else VALUE)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Shape("model", model=annotation)
    return VALUE


def _tagged(models: list[type[BaseModel]], tag: str) -> dict[str, type[BaseModel]]:
    tagged: dict[str, type[BaseModel]] = {}
    for model in models:
        default = model.model_fields[tag].default if tag in model.model_fields else None
        if isinstance(default, str):
            tagged[default] = model
    return tagged


def field_shape(info: FieldInfo) -> Shape:
    return shape_of(info.annotation, info.discriminator)


def keys_of(model: type[BaseModel], extra: Mapping[type[BaseModel], frozenset[str]]) -> list[str]:
    """The keys a section of `model` accepts: its fields (and aliases), and keys a validator reads itself."""
    names: list[str] = []
    for name, info in model.model_fields.items():
        names.append(name)
        if isinstance(info.alias, str) and info.alias != name:
            names.append(info.alias)
    for owner, keys in extra.items():
        if issubclass(model, owner):
            names += sorted(keys)
    return names


@dataclass(frozen=True)
class Unknown:
    """A key no setting has: where it was (its parents' path) and what it might have meant."""

    parent: Path_
    key: str
    known: list[str]
    suggestion: str | None


def unknown_keys(
    data: Any,
    shape: Shape,
    *,
    extra: Mapping[type[BaseModel], frozenset[str]] = {},  # noqa: B006 - read only
    path: Path_ = (),
) -> Iterator[Unknown]:
    """Every key of `data` (earful.toml, parsed) that names no setting, nested sections and lists included."""
    if shape.kind == "model" and isinstance(data, dict):
        assert shape.model is not None
        known = keys_of(shape.model, extra)
        fields = shape.model.model_fields
        for key, value in data.items():
            if key not in known:
                yield Unknown(path, key, known, _nearest(key, known))
            elif key in fields:
                yield from unknown_keys(value, field_shape(fields[key]), extra=extra, path=(*path, key))
    elif shape.kind == "list" and isinstance(data, list) and shape.item is not None:
        for index, item in enumerate(data):
            yield from unknown_keys(item, shape.item, extra=extra, path=(*path, index))
    elif shape.kind == "dict" and isinstance(data, dict) and shape.item is not None:
        for key, value in data.items():
            yield from unknown_keys(value, shape.item, extra=extra, path=(*path, key))
    elif shape.kind == "choice" and isinstance(data, dict) and shape.tag is not None:
        chosen = shape.choices.get(str(data.get(shape.tag)))
        # An unknown tag (kind = "tiers") is the validator's to name, with the kinds there are.
        if chosen is not None:
            yield from unknown_keys(data, Shape("model", model=chosen), extra=extra, path=path)


def _nearest(key: str, known: Sequence[str]) -> str | None:
    close = close_matches(key.lower(), known)
    return close[0] if close else None


def close_matches(word: str, known: Sequence[str], *, cutoff: float = 0.6) -> list[str]:
    return difflib.get_close_matches(word, list(known), n=1, cutoff=cutoff)


# ---- environment variables ------------------------------------------------------------------------------------


def env_name(prefix: str, path: Sequence[str]) -> str:
    return prefix + "__".join(part.upper() for part in path)


def env_names(model: type[BaseModel], prefix: str) -> list[str]:
    """Every variable that sets something: each section (as JSON) and each key down to a list or a table, which
    take JSON as a whole (`EARFUL_ALERTS__RULES='[...]'`)."""
    names: list[str] = []

    def walk(current: type[BaseModel], path: tuple[str, ...]) -> None:
        for name, info in current.model_fields.items():
            names.append(env_name(prefix, (*path, name)))
            shape = field_shape(info)
            if shape.kind == "model" and shape.model is not None:
                walk(shape.model, (*path, name))

    walk(model, ())
    return names


def setting_for_env(model: type[BaseModel], prefix: str, name: str) -> tuple[bool, str | None, str]:
    """Whether the variable `name` (prefixed) sets a setting; if not, the nearest real variable and why not."""
    parts = [p.lower() for p in name[len(prefix) :].split("__")]
    shape = Shape("model", model=model)
    done: list[str] = []
    for index, part in enumerate(parts):
        if shape.kind == "dict":
            return True, None, ""  # a table's own keys are the user's (desk.keys, risk_terms)
        if shape.kind != "model" or shape.model is None:
            whole = env_name(prefix, done)
            return False, None, f"{'.'.join(done)} is set as a whole: in earful.toml, or as JSON in {whole}."
        fields = shape.model.model_fields
        if part not in fields:
            near = _nearest(part, list(fields))
            rest = [near, *parts[index + 1 :]] if near else []
            suggestion = env_name(prefix, [*done, *rest]) if near else None
            if suggestion and not setting_for_env(model, prefix, suggestion)[0]:
                suggestion = env_name(prefix, [*done, near]) if near else None
            where = f"[{'.'.join(done)}]" if done else "the settings"
            return False, suggestion, f"{where} has no {part!r}"
        shape = field_shape(fields[part])
        done.append(part)
    return True, None, ""


# ---- TOML ----------------------------------------------------------------------------------------------------

_AT = re.compile(r"^(?P<what>.*?) \(at line (?P<line>\d+), column (?P<column>\d+)\)$")
# tomllib's terse words, and what the file needed instead.
_EXPECTED = {
    "Invalid value": 'a value: a number, "text in quotes", true or false, a date, [a, list] or { a = table }',
    "Cannot overwrite a value": "each key once per table (this one is set twice)",
    "Cannot declare": "each [table] once (this one is declared twice)",
    "Expected '=' after a key in a key/value pair": "key = value",
    "Invalid statement": "key = value, a [table] or a [[list of tables]]",
    "Unclosed array": "a ] closing the list",
    "Unterminated string": "a closing quote on the same line",
    "Illegal character": 'plain text; a control character must be written as an escape (\\t, \\u0007) "in quotes"',
}


def toml_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> str:
    """`file line L, column C: what is wrong; expected what`, then the line itself with a caret under the place."""
    message = str(exc)
    match = _AT.match(message)
    if match is None:
        return f"{path} is not valid TOML: {message}"
    what, line, column = match["what"], int(match["line"]), int(match["column"])
    expected = next((hint for start, hint in _EXPECTED.items() if what.startswith(start)), None)
    said = f"{path} line {line}, column {column}: {what}" + (f"; expected {expected}" if expected else "")
    lines = text.splitlines()
    if 0 < line <= len(lines):
        shown = lines[line - 1].expandtabs(1)
        said += f"\n    {shown}\n    {' ' * max(column - 1, 0)}^"
    return said


def key_line(text: str, parent: Path_, key: str) -> int | None:
    """The line of earful.toml that sets `key` under its table, if one plainly does (`key = ...`)."""
    table = ".".join(str(p) for p in parent if not isinstance(p, int))
    wanted = re.compile(rf"""^\s*(?:{re.escape(key)}|"{re.escape(key)}"|'{re.escape(key)}')\s*=""")
    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")
    current, found = "", []
    for number, line in enumerate(text.splitlines(), start=1):
        opened = header.match(line)
        if opened:
            current = opened.group(1).replace('"', "").replace(" ", "")
            # A misspelled table is its own header: `[databse]`, `[desk.kyes]`.
            if current == (f"{table}.{key}" if table else key):
                found.append(number)
        elif current == table and wanted.match(line):
            found.append(number)
    return found[0] if found else None


# ---- saying where ------------------------------------------------------------------------------------------


def table_name(parent: Path_, data: Any) -> str:
    """How earful.toml names the table at `parent`: `[sla]`, `[nlp.urgency]`, `[[brands]] "acme"`."""
    if not parent:
        return "the top level"
    dotted = ".".join(str(p) for p in parent if not isinstance(p, int))
    if not isinstance(parent[-1], int):
        return f"[{dotted}]"
    item = at(data, parent)
    name = item.get("name") if isinstance(item, dict) else None
    return f"[[{dotted}]] {name!r}" if isinstance(name, str) else f"[[{dotted}]] number {parent[-1] + 1}"


def at(data: Any, path: Path_) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def model_path(model: type[BaseModel], loc: Sequence[str | int]) -> tuple[Path_, bool]:
    """A validation error's location as earful.toml's path (a rule's `kind` tag, which pydantic adds to the
    location, left out), and whether every step is a section's key, so that one variable can set it."""
    shape = Shape("model", model=model)
    path: list[str | int] = []
    settable = True
    for part in loc:
        if shape.kind == "choice" and isinstance(part, str) and part in shape.choices:
            shape = Shape("model", model=shape.choices[part])
            continue
        path.append(part)
        if shape.kind == "model" and shape.model is not None and part in shape.model.model_fields:
            shape = field_shape(shape.model.model_fields[str(part)])
        elif shape.kind in ("list", "dict") and shape.item is not None:
            settable = False
            shape = shape.item
        else:
            settable = False
            shape = VALUE
    return tuple(path), settable
