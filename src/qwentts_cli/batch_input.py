"""The items of a batch job: a text file (one utterance a line), JSONL or CSV, each item checked (no torch).

Fields of an item: id, text, speaker, voice, ref_audio, ref_text, x_vector_only, language,
instruct, seed, max_frames, repetition_penalty, streaming_text, file (the output's name). A
line that cannot be read becomes an item with an error and its line number: the other items
run. Two items with one id are refused up front (their outputs would collide).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass

from qwentts_cli.errors import UsageError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_TYPES = {"text": str, "id": str, "speaker": str, "voice": str, "ref_audio": str, "ref_text": str, "language": str,
          "instruct": str, "file": str, "x_vector_only": bool, "streaming_text": bool, "seed": int, "max_frames": int,
          "repetition_penalty": float}


@dataclass(frozen=True)
class BatchItem:
    line: int  # where it is in the input, from 1
    id: str
    text: str = ""
    speaker: str | None = None
    voice: str | None = None
    ref_audio: str | None = None
    ref_text: str | None = None
    x_vector_only: bool | None = None
    language: str | None = None
    instruct: str | None = None
    seed: int | None = None
    max_frames: int | None = None
    repetition_penalty: float | None = None
    streaming_text: bool | None = None
    file: str | None = None
    error: str | None = None  # the item could not be read: why

    def overrides(self) -> dict:
        """The request fields this item sets (the command's options give the rest)."""
        keys = ("speaker", "language", "instruct", "seed", "max_frames", "streaming_text")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}


def parse_items(data: bytes, kind: str) -> list[BatchItem]:
    """Items of an input of `kind` "text", "jsonl" or "csv" ("auto": JSONL if the first line is an object)."""
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark, as editors on Windows write, is no text
    except UnicodeDecodeError as e:
        raise UsageError(f"the batch input is not UTF-8 text (bad byte at offset {e.start})") from None
    if kind == "auto":
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        kind = "jsonl" if first.startswith("{") else "text"
    if kind == "csv":
        items = _csv_items(text)
    else:
        items = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            items.append(_jsonl_item(line, number) if kind == "jsonl" else BatchItem(number, f"{number:04d}", line.strip()))
    seen: dict[str, int] = {}
    for item in items:
        if item.id in seen:
            raise UsageError(f"batch input lines {seen[item.id]} and {item.line} have the same id {item.id!r}; "
                             "give every item its own id")
        seen[item.id] = item.line
    return items


def check_output_names(items: list[BatchItem], extension: str) -> None:
    """Two items that would write one file (the same `file`, or names equal but for case: one
    file on a case-insensitive disk) are refused up front."""
    seen: dict[str, BatchItem] = {}
    for item in items:
        if item.error:
            continue
        name = (item.file or f"{item.id}.{extension}").lower()
        if name in seen:
            raise UsageError(f"batch input lines {seen[name].line} and {item.line} would both write {name!r}; "
                             "give each item its own id or file")
        seen[name] = item


def _jsonl_item(line: str, number: int) -> BatchItem:
    try:
        obj = json.loads(line)
    except ValueError as e:
        return BatchItem(number, f"line-{number}", error=f"line {number} is not valid JSON ({e.msg})")
    if not isinstance(obj, dict):
        return BatchItem(number, f"line-{number}", error=f"line {number} is not a JSON object")
    return _item(obj, number)


def _csv_items(text: str) -> list[BatchItem]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "text" not in reader.fieldnames:
        raise UsageError("a CSV batch input needs a header row with a 'text' column (and id, speaker, ... as wanted)")
    items = []
    for row in reader:
        number = reader.line_num
        values = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        items.append(_item(values, number, from_csv=True))
    return items


def _item(obj: dict, number: int, from_csv: bool = False) -> BatchItem:
    unknown = sorted(set(obj) - set(_TYPES))
    if unknown:
        return BatchItem(number, str(obj.get("id") or f"line-{number}"),
                         error=f"line {number} has unknown field {unknown[0]!r}; known: {', '.join(sorted(_TYPES))}")
    values = {}
    for key, value in obj.items():
        kind = _TYPES[key]
        if from_csv and kind is not str:
            value = _from_text(value, kind)
        if value is None:
            continue
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)  # 1 is as good a number as 1.0
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            return BatchItem(number, str(obj.get("id") or f"line-{number}"),
                             error=f"line {number}: {key!r} is {value!r}, expected {_NAMES[kind]}")
        values[key] = value
    item_id = str(values.pop("id", f"{number:04d}"))
    if not _ID.match(item_id):
        return BatchItem(number, f"line-{number}", error=f"line {number}: id {item_id!r} cannot name a file "
                                                         "(letters, digits, '_', '-', '.')")
    if not values.get("text", "").strip():
        return BatchItem(number, item_id, error=f"line {number}: the text is empty")
    return BatchItem(number, item_id, **values)


_NAMES = {str: "a string", bool: "true or false", int: "an integer", float: "a number"}


def _from_text(value: str, kind: type):
    try:
        if kind is bool:
            return {"true": True, "false": False, "1": True, "0": False}[value.strip().lower()]
        return kind(value)
    except (KeyError, ValueError):
        return value  # reported as the wrong type

