"""Reading a request body safely: content type, size, gzip, UTF-8 and JSON, each failure a clear 4xx.

Every check happens before anything is stored and raises a Falcon HTTP error whose JSON body carries a stable
``code`` (``unsupported_media_type``, ``body_too_large``, ``unreadable_body``, ``invalid_gzip``, ``invalid_utf8``,
``malformed_json``, ``not_finite``, ``too_deep``, ``invalid_string``), so a client never sees a 500 for what it
sent. Bodies without a ``Content-Length`` (``Transfer-Encoding: chunked``) are read up to the same size limit.
"""

from __future__ import annotations

import json
import re
import zlib
from typing import Any

import falcon
import orjson

__all__ = ["parse_json", "parse_json_unchecked", "read_body", "string_problem"]

_JSON_TYPES = frozenset({"application/json", "text/plain", ""})
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SUSPECT_ESCAPE_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
# orjson reads an integer beyond 64 bits as a float; the json module keeps it exact. A body with a run of 19 digits
# takes the json module's path: digits mapped to "0", the rest to " ", then a substring search (a regex costs 10x).
_DIGITS_ONLY = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))
_LONG_DIGITS = b"0" * 19


def _bad(code: str, message: str) -> falcon.HTTPBadRequest:
    return falcon.HTTPBadRequest(title="Bad request", description=message, code=code)


def _media_type(req: falcon.Request) -> None:
    raw = req.content_type or ""
    parts = [p.strip() for p in raw.split(";")]
    media = parts[0].lower()
    if media not in _JSON_TYPES:
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported media type",
            description=f"Content-Type must be application/json or text/plain (got {raw!r})",
            code="unsupported_media_type",
        )
    for param in parts[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise falcon.HTTPUnsupportedMediaType(
                title="Unsupported media type",
                description=f"the charset must be utf-8 (got {value.strip()!r})",
                code="unsupported_charset",
            )


def _too_large(what: str, limit: int, got: str) -> falcon.HTTPContentTooLarge:
    return falcon.HTTPContentTooLarge(
        title="Body too large",
        description=f"the {what} must be at most {limit} bytes (got {got})",
        code="body_too_large",
    )


def read_body(req: falcon.Request, max_body: int, max_decompressed: int) -> bytes:
    """Return the request body as plain bytes after the content-type, size and gzip checks.

    Parameters
    ----------
    req:
        The request.
    max_body:
        Limit on the body as sent (``Content-Length`` checked before reading; a chunked body is cut after it).
    max_decompressed:
        Limit on a gzip body once decompressed (a 1 KB gzip bomb cannot expand into memory).
    """
    _media_type(req)
    length = req.content_length
    if length is not None and length > max_body:
        raise _too_large("body", max_body, f"Content-Length {length}")
    # no Content-Length: a chunked body. Falcon's bounded stream reads it as empty; a server that sets
    # wsgi.input_terminated (gunicorn) ends its input at the last chunk, so reading it cannot block.
    stream = req.stream if length is None and req.env.get("wsgi.input_terminated") else req.bounded_stream
    try:
        data = stream.read(max_body + 1)
    except Exception as exc:  # noqa: BLE001 - the server's parser of what the client sent: a malformed chunk, an
        # early end of the body (gunicorn's ParseException subclasses, not importable under another server)
        raise _bad("unreadable_body", f"the request body could not be read ({type(exc).__name__}: {exc})") from None
    if len(data) > max_body:
        raise _too_large("body", max_body, "more")
    encoding = (req.get_header("Content-Encoding") or "identity").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        return _gunzip(data, max_decompressed)
    if encoding != "identity":
        raise falcon.HTTPUnsupportedMediaType(
            title="Unsupported content encoding",
            description=f"Content-Encoding must be gzip or identity (got {encoding!r})",
            code="unsupported_encoding",
        )
    return data


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip body (RFC 1952 §2.2: a gzip file is a series of members, as ``cat a.gz b.gz`` makes
    and Python's ``gzip.decompress`` reads), at most ``limit`` bytes in all; zero padding after the last member is
    allowed, anything else after it is ``invalid_gzip`` (it was ignored: a second member's events were dropped)."""
    parts: list[bytes] = []
    size = 0
    rest = data
    member = 0
    while True:
        member += 1
        decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out = decoder.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            what = "the body is not valid gzip" if member == 1 else f"the data after gzip member {member - 1} is not gzip"
            raise _bad("invalid_gzip", f"{what} ({exc})") from None
        size += len(out)
        if size > limit:
            raise _too_large("decompressed body", limit, "more")
        parts.append(out)
        if not decoder.eof:
            raise _bad("invalid_gzip", "the gzip body is truncated")
        rest = decoder.unused_data
        if not rest.strip(b"\x00"):
            return parts[0] if len(parts) == 1 else b"".join(parts)


def string_problem(value: Any) -> tuple[str, str] | None:
    """The first string no database can store in ``value`` -- a NUL character, or a lone UTF-16 surrogate (from a
    ``\\u`` escape) -- as ``(path, message)``, e.g. ``("event_data.campaign", "...")``; None when there is none."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{path}.{key}" if path else str(key)
                stack.append((path, _Key(key)))
                stack.append((sub_path, sub))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", sub) for i, sub in enumerate(item))
        elif isinstance(item, str | _Key):
            text = str(item)
            what = f"a key of '{path}'" if isinstance(item, _Key) and path else "a key" if isinstance(item, _Key) \
                else f"'{path}'" if path else "the string"  # fmt: skip
            if "\x00" in text:
                return path, f"{what} must not contain the NUL character (\\u0000)"
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return path, f"{what} must be valid Unicode (got a lone surrogate escape such as \\ud800)"
    return None


class _Key(str):
    """A mapping key met by :func:`string_problem` (named differently in its message)."""

    __slots__ = ()


def _check_strings(value: Any) -> None:
    """Reject a whole document holding a string no database can store (see :func:`string_problem`)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            if "\x00" in item:
                raise _bad("invalid_string", "strings must not contain the NUL character (\\u0000)")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad(
                    "invalid_string", "strings must be valid Unicode (got a lone surrogate escape such as \\ud800)"
                ) from None


def _reject_constant(name: str) -> Any:
    raise _bad("not_finite", f"JSON numbers must be finite (got {name})")


#: One decoder for every request (``json.loads`` with an option builds a decoder and its scanner per call).
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(data: bytes) -> Any:
    """:func:`parse_json_unchecked`, then a whole document holding a NUL or a lone surrogate is refused
    (``invalid_string``): for bodies that are one document (the analytics API)."""
    value, suspect = parse_json_unchecked(data)
    if suspect:
        _check_strings(value)
    return value


def parse_json_unchecked(data: bytes) -> tuple[Any, bool]:
    """Decode UTF-8 (a leading BOM is allowed) and parse strict JSON: no NaN/Infinity, bounded nesting; returns the
    value and whether it may hold a string no database can store (a ``\\u0000`` or surrogate escape), which the
    caller checks where it knows what to refuse: the event endpoint refuses that event only
    (:func:`string_problem`), not the whole batch.

    Fast path: ``orjson`` (≈2.5× the json module's speed here), for bodies it reads exactly as the json module
    does. Anything it refuses -- invalid UTF-8, a BOM, NaN, lone surrogates, more than 1,024 levels, malformed
    text -- and any body with a run of 19 digits goes through :func:`_parse_with_json`, which accepts the same
    documents as before and names the error exactly as before (a property test checks that both agree). One
    difference remains by design: a body nested deeper than the json module's recursion limit but at most 1,024
    levels is parsed rather than refused whole; its event is then rejected by validation (``event_data`` may be
    nested 5 levels).
    """
    if _LONG_DIGITS not in data.translate(_DIGITS_ONLY):
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # the json module accepts it, or names the error
        else:
            return value, _SUSPECT_ESCAPE_BYTES.search(data) is not None
    return _parse_with_json_unchecked(data)


def _parse_with_json(data: bytes) -> Any:
    """:func:`parse_json` with the standard library's parser only."""
    value, suspect = _parse_with_json_unchecked(data)
    if suspect:
        _check_strings(value)
    return value


def _parse_with_json_unchecked(data: bytes) -> tuple[Any, bool]:
    """:func:`parse_json_unchecked` with the standard library's parser only."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad("invalid_utf8", f"the body must be UTF-8 (invalid byte at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise _bad("empty_body", "the body is empty (expected a JSON event or {\"batch\": [...]})")
    try:
        value = _DECODER.decode(text)
    except falcon.HTTPError:
        raise
    except json.JSONDecodeError as exc:
        raise _bad("malformed_json", f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise _bad("too_deep", "the JSON body is nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise _bad("malformed_json", f"the body is not valid JSON: {exc}") from None
    return value, _SUSPECT_ESCAPE.search(text) is not None
