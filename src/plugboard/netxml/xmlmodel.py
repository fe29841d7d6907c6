"""A small declarative XML object model, in the manner of virt-manager's virtinst.

An element class names its tag and lists its fields once; that list drives parsing, formatting
(in libvirt's order: the list *is* the order), JSON conversion and the JSON schema. Each field
converts its own values (yes/no, on/off, integers, addresses). Formatting writes what libvirt's
virBuffer code writes: two-space indentation, single-quoted attributes, `/>` for empty
elements, and libvirt's escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from lxml import etree

from plugboard.netxml.errors import NetworkXMLError


# --- value conversion ------------------------------------------------------------------------
@dataclass(frozen=True)
class Conv:
    """How one kind of value is read from and written to XML text."""

    name: str
    parse: Callable[[str], Any]
    format: Callable[[Any], str] = str
    json_type: str = "string"
    allowed: str = ""


def _choice(*values: str) -> Conv:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"'{text}' is not one of {', '.join(values)}")
        return text

    return Conv("choice", parse, allowed=", ".join(values))


def _uint(limit: int) -> Conv:
    def parse(text: str) -> int:
        text = text.strip()
        value = int(text, 0) if text.lower().startswith("0x") else int(text)
        if not 0 <= value <= limit:
            raise ValueError(f"{value} is outside 0..{limit}")
        return value

    return Conv("uint", parse, str, "integer", f"0..{limit}")


STR = Conv("string", str)
YESNO = _choice("yes", "no")
ONOFF = _choice("on", "off")
UINT = _uint(2**32 - 1)
ULONG = _uint(2**64 - 1)
USHORT = _uint(65535)
choice = _choice
uint = _uint


def escape(text: str) -> str:
    """libvirt's virBufferEscapeString for XML: & < > ' and " become entities."""
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


# --- fields ------------------------------------------------------------------------------------
@dataclass
class Field:
    """One attribute or child of an element. `key` is the Python name (default: the XML one)."""

    xml: str
    key: str = ""
    conv: Conv = STR

    def __post_init__(self) -> None:
        self.key = self.key or self.xml


@dataclass
class Attr(Field):
    pass


@dataclass
class TextElem(Field):
    """A child element holding only text: `<name>default</name>`; `many`: a list of them."""

    many: bool = False


@dataclass
class Child(Field):
    """One child element, an instance of `cls`."""

    cls: type[Node] | None = None
    many: bool = False


@dataclass
class Blob(Field):
    """A child kept as XML, untouched (`<metadata>`)."""


# --- elements ----------------------------------------------------------------------------------
class Node:
    """An XML element. Subclasses set TAG and FIELDS; instances hold the values by key."""

    TAG: ClassVar[str]
    FIELDS: ClassVar[tuple[Field, ...]] = ()
    NSMAP: ClassVar[dict[str, str]] = {}

    def __init__(self, **values: Any) -> None:
        for f in self.FIELDS:
            default = [] if getattr(f, "many", False) else None
            setattr(self, f.key, values.pop(f.key, default))
        if values:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(values)}")

    __hash__ = None  # mutable, compared by value

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and all(
            _comparable(getattr(self, f.key)) == _comparable(getattr(other, f.key))
            for f in self.FIELDS
        )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.key}={getattr(self, f.key)!r}"
            for f in self.FIELDS
            if getattr(self, f.key) not in (None, [])
        )
        return f"{type(self).__name__}({shown})"

    # --- parsing ----------------------------------------------------------------------------
    @classmethod
    def from_element(cls, elem: etree._Element, path: str) -> Node:
        node = cls.__new__(cls)
        counts: dict[str, int] = {}
        for f in cls.FIELDS:
            if isinstance(f, Attr):
                raw = elem.get(f.xml)
                setattr(node, f.key, None if raw is None else _convert(f, raw, f"{path}/@{f.xml}"))
            elif isinstance(f, TextElem):
                values = [
                    _convert(f, found.text or "", f"{path}/{f.xml}[{i}]")
                    for i, found in enumerate(elem.iterfind(f.xml), 1)
                ]
                setattr(node, f.key, values if f.many else (values[0] if values else None))
            elif isinstance(f, Blob):
                found = elem.find(f.xml)
                setattr(node, f.key, None if found is None else _copy(found))
            elif isinstance(f, Child):
                items = []
                for child in elem.iterfind(f.xml):
                    counts[f.xml] = counts.get(f.xml, 0) + 1
                    tag = f.xml.split("}")[-1] if "}" not in f.xml else _prefixed(f.xml, elem)
                    items.append(f.cls.from_element(child, f"{path}/{tag}[{counts[f.xml]}]"))
                if f.many:
                    setattr(node, f.key, items)
                else:
                    setattr(node, f.key, items[0] if items else None)
        node.after_parse(elem, path)
        return node

    def after_parse(self, elem: etree._Element, path: str) -> None:
        """Hook for what a field list cannot say (an attribute that implies a child, ...)."""

    # --- formatting ---------------------------------------------------------------------------
    def attributes(self) -> Iterator[tuple[str, str]]:
        for f in self.FIELDS:
            if isinstance(f, Attr):
                value = getattr(self, f.key)
                if value is not None:
                    yield f.xml, f.conv.format(value)

    def children(self, indent: str) -> Iterator[str]:
        for f in self.FIELDS:
            value = getattr(self, f.key)
            if value is None or isinstance(f, Attr):
                continue
            if isinstance(f, TextElem):
                for item in value if f.many else [value]:
                    yield f"{indent}<{f.xml}>{escape(f.conv.format(item))}</{f.xml}>\n"
            elif isinstance(f, Blob):
                yield format_blob(value, indent)
            elif isinstance(f, Child):
                for item in value if f.many else [value]:
                    yield item.format(indent)

    def tag(self) -> str:
        return self.TAG

    def format(self, indent: str = "") -> str:
        attrs = "".join(f" {name}='{escape(value)}'" for name, value in self.attributes())
        inner = "".join(self.children(indent + "  "))
        if not inner:
            return f"{indent}<{self.tag()}{attrs}/>\n"
        return f"{indent}<{self.tag()}{attrs}>\n{inner}{indent}</{self.tag()}>\n"

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.FIELDS:
            value = getattr(self, f.key)
            if value is None or value == []:
                continue
            if isinstance(f, Child):
                out[f.key] = [v.to_json() for v in value] if f.many else value.to_json()
            elif isinstance(f, Blob):
                out[f.key] = etree.tostring(value, encoding="unicode")
            else:
                out[f.key] = value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str = "") -> Node:
        path = path or f"/{cls.TAG}"
        if not isinstance(data, dict):
            raise NetworkXMLError(path, "expected an object")
        unknown = set(data) - {f.key for f in cls.FIELDS}
        if unknown:
            raise NetworkXMLError(
                path,
                f"unknown field(s) {', '.join(sorted(unknown))}; "
                f"allowed: {', '.join(f.key for f in cls.FIELDS)}",
            )
        node = cls()
        for f in cls.FIELDS:
            if f.key not in data:
                continue
            value = data[f.key]
            where = f"{path}/{f.key}"
            if isinstance(f, Child):
                if f.many:
                    if not isinstance(value, list):
                        raise NetworkXMLError(where, "expected a list")
                    value = [f.cls.from_json(v, f"{where}[{i}]") for i, v in enumerate(value, 1)]
                else:
                    value = f.cls.from_json(value, where)
            elif isinstance(f, Blob):
                value = _parse_blob(value, where)
            elif getattr(f, "many", False):
                if not isinstance(value, list):
                    raise NetworkXMLError(where, "expected a list")
                value = [_convert(f, v, f"{where}[{i}]") for i, v in enumerate(value, 1)]
            else:
                value = _convert(f, value, where)
            setattr(node, f.key, value)
        return node

    @classmethod
    def json_schema(cls, defs: dict[str, Any]) -> dict[str, Any]:
        name = cls.__name__
        if name not in defs:
            defs[name] = {}  # break cycles
            props: dict[str, Any] = {}
            for f in cls.FIELDS:
                if isinstance(f, Child):
                    ref = {"$ref": f"#/$defs/{f.cls.json_schema(defs)['title']}"}
                    props[f.key] = {"type": "array", "items": ref} if f.many else ref
                else:
                    prop: dict[str, Any] = {
                        "type": "string" if isinstance(f, Blob) else f.conv.json_type
                    }
                    if f.conv.allowed and f.conv.name == "choice":
                        prop["enum"] = f.conv.allowed.split(", ")
                    props[f.key] = (
                        {"type": "array", "items": prop} if getattr(f, "many", False) else prop
                    )
            defs[name] = {
                "title": name,
                "type": "object",
                "properties": props,
                "additionalProperties": False,
            }
        return {"title": name}


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text or a number, not {type(value).__name__}")
    return str(value)


def _convert(f: Field, raw: Any, path: str) -> Any:
    try:
        return f.conv.parse(raw if isinstance(raw, str) else _text(raw))
    except ValueError as err:
        allowed = f"; allowed: {f.conv.allowed}" if f.conv.allowed else ""
        raise NetworkXMLError(path, f"invalid value '{raw}': {err}{allowed}") from None


def _comparable(value: Any) -> Any:
    if isinstance(value, etree._Element):
        return etree.tostring(value)
    return value


def _copy(elem: etree._Element) -> etree._Element:
    copied = etree.fromstring(etree.tostring(elem))
    copied.tail = None
    etree.cleanup_namespaces(copied)  # drop the declarations inherited from <network>
    return copied


def _prefixed(clark: str, elem: etree._Element) -> str:
    namespace, local = clark[1:].split("}")
    for prefix, uri in (elem.nsmap or {}).items():
        if uri == namespace and prefix:
            return f"{prefix}:{local}"
    return local


def _parse_blob(text: Any, path: str) -> etree._Element:
    from plugboard.netxml.safe import parse_xml  # noqa: PLC0415 (avoids an import cycle)

    if not isinstance(text, str):
        raise NetworkXMLError(path, "expected XML text")
    return parse_xml(text, path)


def format_blob(elem: etree._Element, indent: str) -> str:
    """libvirt formats <metadata> with libxml2's own indentation, below the current level."""
    copied = _copy(elem)
    for node in copied.iter():
        if node.text is not None and not node.text.strip() and len(node):
            node.text = None
        if node.tail is not None and not node.tail.strip():
            node.tail = None
    etree.indent(copied, space="  ")
    text = etree.tostring(copied, encoding="unicode")
    return "".join(f"{indent}{line}\n" for line in text.splitlines())


def fields_of(cls: type[Node]) -> dict[str, Field]:
    return {f.key: f for f in cls.FIELDS}


__all__ = [
    "ONOFF",
    "STR",
    "UINT",
    "ULONG",
    "USHORT",
    "YESNO",
    "Attr",
    "Blob",
    "Child",
    "Conv",
    "Field",
    "Node",
    "TextElem",
    "choice",
    "escape",
    "field",
    "uint",
]
