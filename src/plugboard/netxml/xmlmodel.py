"""A small declarative XML object model, in the manner of virt-manager's virtinst.

An element class names its tag and declares each field once, as a class attribute; the fields,
in their order, drive parsing, formatting (in libvirt's order: the declaration order *is* the
order), JSON conversion and the JSON schema, and give each value its type. Each field
converts its own values (yes/no, on/off, integers, addresses). Formatting writes what libvirt's
virBuffer code writes: two-space indentation, single-quoted attributes, `/>` for empty
elements, and libvirt's escaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Self, TypeVar, overload

from lxml import etree

from plugboard.netxml.errors import NetworkXMLError

# --- value conversion ------------------------------------------------------------------------
T = TypeVar("T")
N = TypeVar("N", bound="Node")


@dataclass(frozen=True)
class Conv(Generic[T]):
    """How one kind of value is read from and written to XML text."""

    name: str
    parse: Callable[[str], T]
    format: Callable[[T], str] = str
    json_type: str = "string"
    allowed: str = ""
    schema: tuple[tuple[str, Any], ...] = ()  # what JSON Schema says of the value's form


def _choice(*values: str) -> Conv[str]:
    def parse(text: str) -> str:
        if text not in values:
            raise ValueError(f"'{text}' is not one of {', '.join(values)}")
        return text

    return Conv("choice", parse, allowed=", ".join(values))


def _uint(limit: int) -> Conv[int]:
    def parse(text: str) -> int:
        text = text.strip()
        value = int(text, 0) if text.lower().startswith("0x") else int(text)
        if not 0 <= value <= limit:
            raise ValueError(f"{value} is outside 0..{limit}")
        return value

    return Conv("uint", parse, str, "integer", f"0..{limit}")


STR: Conv[str] = Conv("string", str)
YESNO = _choice("yes", "no")
ONOFF = _choice("on", "off")
UINT = _uint(2**32 - 1)
ULONG = _uint(2**64 - 1)
USHORT = _uint(65535)
choice = _choice
uint = _uint


_SPECIAL = re.compile(r"""[&<>'"]""")


def escape(text: str) -> str:
    """libvirt's virBufferEscapeString for XML: & < > ' and " become entities."""
    if _SPECIAL.search(text) is None:  # the usual case: nothing to escape
        return text
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("'", "&apos;")
        .replace('"', "&quot;")
    )


# --- fields ------------------------------------------------------------------------------------
class Field(Generic[T]):
    """One attribute or child of an element, declared as a class attribute of the element: the
    attribute's name is the field's key (the Python name), `xml` its XML name (by default the
    key). The instance holds the value under the key, so reading it costs a plain attribute
    access; the field itself is seen only on the class. `T` is the value's type."""

    many: ClassVar[bool] = False

    def __init__(self, xml: str = "", conv: Conv[Any] = STR) -> None:
        self.xml = xml
        self.key = ""
        self.conv = conv

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name
        self.xml = self.xml or name

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> T: ...
    def __get__(self, obj: object | None, owner: type) -> Any:
        if obj is None:
            return self
        raise AttributeError(self.key)  # an instance holds every field's value itself

    if TYPE_CHECKING:  # values are set on the instance; this only tells the type checker

        def __set__(self, obj: object, value: T) -> None: ...


class Attr(Field[T | None]):
    """An attribute, converted by `conv` (text by default)."""

    @overload
    def __init__(self: Attr[str], xml: str = "") -> None: ...
    @overload
    def __init__(self, xml: str = "", *, conv: Conv[T]) -> None: ...
    def __init__(self, xml: str = "", *, conv: Conv[Any] = STR) -> None:
        super().__init__(xml, conv)


class TextElem(Field[T | None]):
    """A child element holding only text: `<name>default</name>`."""

    @overload
    def __init__(self: TextElem[str], xml: str = "") -> None: ...
    @overload
    def __init__(self, xml: str = "", *, conv: Conv[T]) -> None: ...
    def __init__(self, xml: str = "", *, conv: Conv[Any] = STR) -> None:
        super().__init__(xml, conv)


class TextElems(Field[list[str]]):
    """Child elements holding only text, as a list."""

    many = True


class NodeField(Field[T]):
    """A child element that is itself a `Node` of class `cls` (by default, its tag's)."""

    def __init__(self, cls: type[Node], xml: str = "") -> None:
        super().__init__(xml or cls.TAG)
        self.cls = cls


class Child(NodeField[N | None]):
    """One child element, an instance of `cls`."""

    def __init__(self, cls: type[N], xml: str = "") -> None:
        super().__init__(cls, xml)


class Children(NodeField[list[N]]):
    """Child elements of one tag, each an instance of `cls`, as a list."""

    many = True

    def __init__(self, cls: type[N], xml: str = "") -> None:
        super().__init__(cls, xml)


# JSON Schema of XML kept as text: an element (whether it is well-formed, JSON Schema cannot say).
RAW_SCHEMA = {
    "type": "string",
    "pattern": r"^\s*<[^\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]*>\s*$",
    "description": "An XML element, as text (well-formed XML: refused with 422 otherwise)",
}


class RawField(Field[T]):
    """A child kept as XML (lxml elements), untouched."""


class Blob(RawField[etree._Element | None]):
    """One child kept as XML, untouched (`<metadata>`)."""


class Others(RawField[list[etree._Element]]):
    """Every child that no other field declares, kept as it is and in its order: what a model
    does not manage passes through it byte for byte."""

    many = True


# --- elements ----------------------------------------------------------------------------------
_CHILD, _TEXT, _BLOB, _KEPT = "child", "text", "blob", "kept"
# The field, its kind, whether it holds a list, and the Node class of a child element.
ElemEntry = tuple[Field[Any], str, bool, "type[Node] | None"]
ElemFormat = tuple[str, str, str, bool, Callable[[Any], str]]  # kind, xml, key, many, format


class Node:
    """An XML element. Subclasses set TAG and declare their fields as class attributes, in the
    order libvirt writes them; instances hold the values by key."""

    TAG: ClassVar[str]
    FIELDS: ClassVar[tuple[Field[Any], ...]] = ()
    NSMAP: ClassVar[dict[str, str]] = {}
    # Worked out once per class from FIELDS (see __init_subclass__).
    _ATTRS: ClassVar[dict[str, Field[Any]]] = {}
    _ELEMS: ClassVar[dict[str, ElemEntry]] = {}
    _OTHERS: ClassVar[str | None] = None
    _ELEM_FORMATS: ClassVar[tuple[ElemFormat, ...]] = ()
    _DEFAULTS: ClassVar[dict[str, None]] = {}
    _LISTS: ClassVar[tuple[str, ...]] = ()
    _ATTR_FORMATS: ClassVar[tuple[tuple[str, str, Callable[[Any], str]], ...]] = ()
    _HOOKED: ClassVar[bool] = False
    _PLAIN_ATTRS: ClassVar[bool] = True
    _PLAIN_TAG: ClassVar[bool] = True
    _ALWAYS_INCLUDED: ClassVar[bool] = True
    _HAS_CHILDREN: ClassVar[bool] = False

    def __init__(self, **values: Any) -> None:
        for f in self.FIELDS:
            default: list[Any] | None = [] if f.many else None
            setattr(self, f.key, values.pop(f.key, default))
        if values:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(values)}")

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

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
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = tuple(v for v in vars(cls).values() if isinstance(v, Field))
        cls.FIELDS = cls.FIELDS + own  # a base element's fields come first
        # Per class, once: what each attribute name and child tag maps to. Parsing then walks
        # the element's own attributes and children, not the whole field list.
        cls._ATTRS = {f.xml: f for f in cls.FIELDS if isinstance(f, Attr)}
        cls._ELEMS = {
            f.xml: (f, _kind(f), f.many, f.cls if isinstance(f, NodeField) else None)
            for f in cls.FIELDS
            if not isinstance(f, Attr | Others)
        }
        cls._OTHERS = next((f.key for f in cls.FIELDS if isinstance(f, Others)), None)
        cls._ELEM_FORMATS = tuple(
            (_kind(f), f.xml, f.key, f.many, f.conv.format)
            for f in cls.FIELDS
            if not isinstance(f, Attr)
        )
        cls._DEFAULTS = {f.key: None for f in cls.FIELDS if not f.many}
        cls._LISTS = tuple(f.key for f in cls.FIELDS if f.many)
        cls._ATTR_FORMATS = tuple((f.xml, f.key, f.conv.format) for f in cls._ATTRS.values())
        cls._HOOKED = cls.after_parse is not Node.after_parse
        cls._PLAIN_ATTRS = cls.attributes is Node.attributes
        cls._PLAIN_TAG = cls.tag is Node.tag
        cls._ALWAYS_INCLUDED = cls.included is Node.included
        cls._HAS_CHILDREN = bool(cls._ELEM_FORMATS) or cls.write_children is not Node.write_children

    @classmethod
    def from_element(cls, elem: etree._Element, path: str) -> Self:  # noqa: PLR0912 (hot path)
        node = cls.__new__(cls)
        values = node.__dict__
        values.update(cls._DEFAULTS)
        for key in cls._LISTS:
            values[key] = []
        attrs = cls._ATTRS
        for name, raw in elem.items():
            f = attrs.get(str(name))
            if f is None:
                continue
            if f.conv is STR:
                values[f.key] = raw
            else:
                try:
                    values[f.key] = f.conv.parse(str(raw))
                except ValueError:
                    _convert(f, raw, path, f"@{name}")  # raises, with the place
        if (cls._ELEMS or cls._OTHERS) and len(elem):
            elems, counts = cls._ELEMS, dict[str, int]()
            for child in elem:
                tag = child.tag
                if not isinstance(tag, str):
                    continue  # a comment or processing instruction
                entry = elems.get(tag)
                if entry is None:
                    if cls._OTHERS is not None:
                        values[cls._OTHERS].append(_copy(child))
                    continue
                f, kind, many, node_cls = entry
                n = counts[tag] = counts.get(tag, 0) + 1
                if not many and n > 1:
                    continue  # libvirt reads the first one
                value: Any
                if node_cls is not None:
                    name = _prefixed(tag, elem) if tag[0] == "{" else tag
                    value = node_cls.from_element(child, f"{path}/{name}[{n}]")
                elif kind is _TEXT:
                    text = child.text or ""
                    value = text if f.conv is STR else _convert(f, text, path, f"{f.xml}[{n}]")
                else:
                    value = _copy(child)
                if many:
                    values[f.key].append(value)
                else:
                    values[f.key] = value
        if cls._HOOKED:
            node.after_parse(elem, path)
        return node

    def after_parse(self, elem: etree._Element, path: str) -> None:
        """Hook for what a field list cannot say (an attribute that implies a child, ...)."""

    # --- formatting ---------------------------------------------------------------------------
    def attributes(self) -> Iterator[tuple[str, str]]:
        """(name, text) of the attributes to write; override for derived ones."""
        values = self.__dict__
        for name, key, fmt in self._ATTR_FORMATS:
            value = values[key]
            if value is not None:
                yield name, fmt(value)

    def tag(self) -> str:
        return self.TAG

    def included(self) -> bool:
        """Whether libvirt writes this element at all (it drops some empty ones)."""
        return True

    # Elements libvirt writes with an end tag even when they have no children (<ip>, ...).
    ALWAYS_CLOSE: ClassVar[bool] = False

    def format(self, indent: str = "") -> str:
        out: list[str] = []
        self.write(out, indent)
        return "".join(out)

    def write(self, out: list[str], indent: str) -> None:
        """Append this element, as libvirt formats it, to `out`."""
        if not (self._ALWAYS_INCLUDED or self.included()):
            return
        if self._PLAIN_ATTRS:  # the common case, without a generator
            values = self.__dict__
            attrs = "".join(
                [
                    f" {name}='{escape(fmt(values[key]))}'"
                    for name, key, fmt in self._ATTR_FORMATS
                    if values[key] is not None
                ]
            )
        else:
            attrs = "".join(f" {name}='{escape(value)}'" for name, value in self.attributes())
        tag = self.TAG if self._PLAIN_TAG else self.tag()
        out.append(f"{indent}<{tag}{attrs}")
        opening = len(out)
        if self._HAS_CHILDREN:
            self.write_children(out, indent + "  ")
        if len(out) == opening and not self.ALWAYS_CLOSE:
            out[-1] += "/>\n"
        else:
            out[opening - 1] += ">\n"
            out.append(f"{indent}</{tag}>\n")

    def write_children(self, out: list[str], indent: str) -> None:
        values = self.__dict__
        for kind, xml, key, many, fmt in self._ELEM_FORMATS:
            value = values[key]
            if value is None:
                continue
            if kind is _CHILD:
                if many:
                    for item in value:
                        item.write(out, indent)
                else:
                    value.write(out, indent)
            elif kind is _TEXT:
                for item in value if many else (value,):
                    out.append(f"{indent}<{xml}>{escape(fmt(item))}</{xml}>\n")
            elif kind is _KEPT:
                out.extend(
                    f"{indent}{etree.tostring(item, encoding='unicode')}\n" for item in value
                )
            else:
                out.append(format_blob(value, indent))

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.FIELDS:
            value = getattr(self, f.key)
            if value is None or value == []:
                continue
            items = value if f.many else [value]
            if isinstance(f, NodeField):
                items = [v.to_json() for v in items]
            elif isinstance(f, RawField):
                items = [etree.tostring(v, encoding="unicode") for v in items]
            out[f.key] = items if f.many else items[0]
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any], path: str = "") -> Self:
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
            if f.key in data:
                setattr(node, f.key, _from_json(f, data[f.key], f"{path}/{f.key}"))
        return node

    @classmethod
    def json_schema(cls, defs: dict[str, Any]) -> dict[str, Any]:
        name = cls.__name__
        if name not in defs:
            defs[name] = {}  # break cycles
            props: dict[str, Any] = {}
            for f in cls.FIELDS:
                prop: dict[str, Any]
                if isinstance(f, NodeField):
                    prop = {"$ref": f"#/$defs/{f.cls.json_schema(defs)['title']}"}
                else:
                    raw = isinstance(f, RawField)
                    prop = dict(RAW_SCHEMA) if raw else {"type": f.conv.json_type}
                    if f.conv.allowed and f.conv.name == "choice":
                        prop["enum"] = f.conv.allowed.split(", ")
                    prop |= dict(f.conv.schema)
                props[f.key] = {"type": "array", "items": prop} if f.many else prop
            defs[name] = {
                "title": name,
                "type": "object",
                "properties": props,
                "additionalProperties": False,
            }
        return {"title": name}


def _kind(f: Field[Any]) -> str:
    if isinstance(f, Others):
        return _KEPT
    if isinstance(f, NodeField):
        return _CHILD
    return _BLOB if isinstance(f, Blob) else _TEXT


def _from_json(f: Field[Any], value: Any, where: str) -> Any:
    """One field's value from its JSON form (a list for a field of many)."""
    if f.many:
        if not isinstance(value, list):
            raise NetworkXMLError(where, "expected a list")
        return [_one_from_json(f, v, f"{where}[{i}]") for i, v in enumerate(value, 1)]
    return _one_from_json(f, value, where)


def _one_from_json(f: Field[Any], value: Any, where: str) -> Any:
    if isinstance(f, NodeField):
        return f.cls.from_json(value, where)
    if isinstance(f, RawField):
        return _parse_blob(value, where)
    return _convert(f, value, where)


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected text or a number, not {type(value).__name__}")
    return str(value)


def _convert(f: Field[Any], raw: Any, path: str, where: str = "") -> Any:
    try:
        return f.conv.parse(raw if isinstance(raw, str) else _text(raw))
    except ValueError as err:
        allowed = f"; allowed: {f.conv.allowed}" if f.conv.allowed else ""
        place = f"{path}/{where}" if where else path
        raise NetworkXMLError(place, f"invalid value '{raw}': {err}{allowed}") from None


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


def fields_of(cls: type[Node]) -> dict[str, Field[Any]]:
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
    "Children",
    "Conv",
    "Field",
    "Node",
    "NodeField",
    "Others",
    "RawField",
    "TextElem",
    "TextElems",
    "choice",
    "escape",
    "uint",
]
