//! The data tree of one execution: every subgraph response is parsed once into one arena of
//! nodes, and merged there by path. Strings are not copied: a string node points into the
//! response body it came from (kept alive by the tree), so an 80 KB reviews response costs
//! a few node pushes per value and no allocation per string or per object.
//!
//! Objects are ranges of a shared field list. Merging fields into an object writes a new
//! range (objects are small), so no range is ever shared between two objects; a merged
//! subtree is moved, never aliased, and a fan-out (one entity answering many places) copies
//! the nodes for each extra place, which is a few `Vec` pushes.

use std::{
    fmt,
    sync::atomic::{AtomicUsize, Ordering},
};

use bytes::Bytes;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::planner::schema::{SchemaIndex, TypeKind};

pub(crate) type NodeId = u32;

/// Bytes in one of the tree's buffers: buffer 0 is the tree's own scratch (strings the
/// router made or unescaped), the others are subgraph response bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Str {
    buf: u32,
    start: u32,
    len: u32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    /// `raw`: the bytes can be written between quotes as they are (they came unescaped
    /// from a JSON text); otherwise they are unescaped text that needs escaping.
    Str {
        s: Str,
        raw: bool,
    },
    /// `len` items at `items[start..]`.
    Array {
        start: u32,
        len: u32,
    },
    /// `len` fields at `fields[start..]`.
    Object {
        start: u32,
        len: u32,
    },
}

/// A field of an object: its key (unescaped) and value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub key: Str,
    pub value: NodeId,
}

/// A subgraph response's parts: `data` as a node of the tree, `errors` as JSON.
pub(crate) struct Parsed {
    pub data: Option<NodeId>,
    pub errors: Vec<Value>,
}

#[derive(Debug)]
pub(crate) struct ParseError(pub String);

/// The arena. Node 0 is the root object.
pub(crate) struct Tree {
    nodes: Vec<Node>,
    items: Vec<NodeId>,
    fields: Vec<Field>,
    scratch: Vec<u8>,
    bufs: Vec<Bytes>,
    /// Fields being collected by `merge`, reused across calls.
    pending: Vec<Field>,
    /// Items or fields being collected by the parser, reused across parses.
    stack_items: Vec<NodeId>,
    stack_fields: Vec<Field>,
}

pub(crate) const ROOT: NodeId = 0;

/// How large the last execution of an operation grew, so that the next one allocates its
/// tree and response buffer once instead of growing them step by step. Only growth is
/// stored: a counter every request wrote would bounce its cache line between cores.
#[derive(Debug, Default)]
pub(crate) struct SizeHints {
    body: AtomicUsize,
    nodes: AtomicUsize,
    items: AtomicUsize,
    fields: AtomicUsize,
    scratch: AtomicUsize,
}

impl SizeHints {
    pub fn body(&self) -> usize {
        self.body.load(Ordering::Relaxed)
    }

    /// An empty tree sized like the last one.
    pub fn tree(&self) -> Tree {
        let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        Tree::with_capacities(
            load(&self.nodes),
            load(&self.items),
            load(&self.fields),
            load(&self.scratch),
        )
    }

    pub fn record(&self, tree: &Tree, body: usize) {
        let grow = |a: &AtomicUsize, v: usize| {
            if v > a.load(Ordering::Relaxed) {
                a.store(v, Ordering::Relaxed);
            }
        };
        grow(&self.body, body);
        grow(&self.nodes, tree.nodes.len());
        grow(&self.items, tree.items.len());
        grow(&self.fields, tree.fields.len());
        grow(&self.scratch, tree.scratch.len());
    }
}
const SCRATCH: u32 = 0;

impl Default for Tree {
    fn default() -> Self {
        Self::with_capacities(16, 0, 0, 0)
    }
}

impl Tree {
    /// A tree with an empty root object and room for that many nodes, list items, fields
    /// and scratch bytes.
    fn with_capacities(nodes: usize, items: usize, fields: usize, scratch: usize) -> Self {
        let mut nodes = Vec::with_capacity(nodes.max(16));
        nodes.push(Node::Object { start: 0, len: 0 });
        Self {
            nodes,
            items: Vec::with_capacity(items),
            fields: Vec::with_capacity(fields),
            scratch: Vec::with_capacity(scratch),
            // Buffer 0 stands for the scratch space.
            bufs: vec![Bytes::new()],
            pending: Vec::new(),
            stack_items: Vec::new(),
            stack_fields: Vec::new(),
        }
    }

    pub fn node(&self, id: NodeId) -> Node {
        self.nodes[id as usize]
    }

    pub fn bytes(&self, s: Str) -> &[u8] {
        let range = s.start as usize..(s.start + s.len) as usize;
        if s.buf == SCRATCH {
            &self.scratch[range]
        } else {
            &self.bufs[s.buf as usize][range]
        }
    }

    /// The text of a string; every stored string is valid UTF-8 (checked by the parser or
    /// made from a `&str`), so this only fails on a bug.
    pub fn text(&self, s: Str) -> &str {
        std::str::from_utf8(self.bytes(s)).unwrap_or_default()
    }

    pub fn fields(&self, start: u32, len: u32) -> &[Field] {
        &self.fields[start as usize..(start + len) as usize]
    }

    pub fn items(&self, start: u32, len: u32) -> &[NodeId] {
        &self.items[start as usize..(start + len) as usize]
    }

    /// The value of `key` in `object` (which may not be an object).
    pub fn get(&self, object: NodeId, key: &str) -> Option<NodeId> {
        let Node::Object { start, len } = self.node(object) else {
            return None;
        };
        self.fields(start, len)
            .iter()
            .find(|f| self.bytes(f.key) == key.as_bytes())
            .map(|f| f.value)
    }

    /// [`Self::get`] starting where the last lookup in this object ended: the projection
    /// asks for fields mostly in the order the subgraphs sent them, so one comparison
    /// usually finds the field.
    pub fn get_from(&self, object: NodeId, key: &str, cursor: &mut usize) -> Option<NodeId> {
        let Node::Object { start, len } = self.node(object) else {
            return None;
        };
        let fields = self.fields(start, len);
        let (head, tail) = fields.split_at((*cursor).min(fields.len()));
        let key = key.as_bytes();
        let found = tail
            .iter()
            .position(|f| self.bytes(f.key) == key)
            .map(|i| i + head.len())
            .or_else(|| head.iter().position(|f| self.bytes(f.key) == key))?;
        *cursor = found + 1;
        Some(fields[found].value)
    }

    /// `__typename` of an object, when it has a string one.
    pub fn typename(&self, object: NodeId) -> Option<&str> {
        match self.node(self.get(object, "__typename")?) {
            Node::Str { s, .. } => Some(self.text(s)),
            _ => None,
        }
    }

    pub fn is_null(&self, id: NodeId) -> bool {
        matches!(self.node(id), Node::Null)
    }

    pub fn push(&mut self, node: Node) -> NodeId {
        let id = self.nodes.len() as NodeId;
        self.nodes.push(node);
        id
    }

    /// A string the router made (rewrites, subscription events).
    pub fn intern(&mut self, text: &str) -> Str {
        let start = self.scratch.len() as u32;
        self.scratch.extend_from_slice(text.as_bytes());
        Str {
            buf: SCRATCH,
            start,
            len: text.len() as u32,
        }
    }

    pub fn set(&mut self, id: NodeId, node: Node) {
        self.nodes[id as usize] = node;
    }

    /// Renames `key` of `object` to `to` (output rewrites), in place.
    pub fn rename_key(&mut self, object: NodeId, key: &str, to: &str) {
        let Node::Object { start, len } = self.node(object) else {
            return;
        };
        if key == to {
            return;
        }
        let position = self
            .fields(start, len)
            .iter()
            .position(|f| self.bytes(f.key) == key.as_bytes());
        if let Some(i) = position {
            // A field already called `to` would now be shadowed: drop it from the range by
            // rewriting the object without it.
            let existing = self
                .fields(start, len)
                .iter()
                .position(|f| self.bytes(f.key) == to.as_bytes());
            let to = self.intern(to);
            self.fields[start as usize + i].key = to;
            if let Some(j) = existing {
                let kept: Vec<Field> = self
                    .fields(start, len)
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| *k != j)
                    .map(|(_, f)| *f)
                    .collect();
                self.replace_fields(object, &kept);
            }
        }
    }

    /// Sets `key` of `object` to the string `value`, adding the field when it is missing.
    pub fn set_string_field(&mut self, object: NodeId, key: &str, value: &str) {
        let s = self.intern(value);
        let node = self.push(Node::Str { s, raw: false });
        match self.get(object, key) {
            Some(existing) => self.set(existing, Node::Str { s, raw: false }),
            None => {
                let Node::Object { start, len } = self.node(object) else {
                    return;
                };
                let key = self.intern(key);
                let mut all: Vec<Field> = self.fields(start, len).to_vec();
                all.push(Field { key, value: node });
                self.replace_fields(object, &all);
            }
        }
    }

    fn replace_fields(&mut self, object: NodeId, fields: &[Field]) {
        let start = self.fields.len() as u32;
        self.fields.extend_from_slice(fields);
        self.set(
            object,
            Node::Object {
                start,
                len: fields.len() as u32,
            },
        );
    }

    /// Keeps `body` alive with the tree and clears what a failed parse may have left.
    fn begin_parse(&mut self, body: &Bytes) -> u32 {
        self.stack_items.clear();
        self.stack_fields.clear();
        self.bufs.push(body.clone());
        (self.bufs.len() - 1) as u32
    }

    /// Parses a subgraph response body (`{"data": ..., "errors": [...]}`) into the tree.
    pub fn parse_response(&mut self, body: Bytes) -> Result<Parsed, ParseError> {
        let buf = self.begin_parse(&body);
        let mut de = sonic_rs::Deserializer::from_slice(&body);
        let parsed = ResponseSeed {
            tree: self,
            buf,
            base: &body,
        }
        .deserialize(&mut de)
        .map_err(|e| ParseError(e.to_string()))?;
        de.end().map_err(|e| ParseError(e.to_string()))?;
        Ok(parsed)
    }

    /// Parses one JSON value into the tree.
    #[cfg(test)]
    pub fn parse_value(&mut self, json: Bytes) -> Result<NodeId, ParseError> {
        let buf = self.begin_parse(&json);
        let mut de = sonic_rs::Deserializer::from_slice(&json);
        let id = NodeSeed {
            tree: self,
            buf,
            base: &json,
        }
        .deserialize(&mut de)
        .map_err(|e| ParseError(e.to_string()))?;
        de.end().map_err(|e| ParseError(e.to_string()))?;
        Ok(id)
    }

    /// A copy of the subtree at `id`, for a second place the same entity data goes to.
    pub fn deep_copy(&mut self, id: NodeId) -> NodeId {
        match self.node(id) {
            Node::Array { start, len } => {
                let mut copied = Vec::with_capacity(len as usize);
                for i in 0..len {
                    let item = self.items[(start + i) as usize];
                    copied.push(self.deep_copy(item));
                }
                let start = self.items.len() as u32;
                self.items.extend_from_slice(&copied);
                self.push(Node::Array { start, len })
            }
            Node::Object { start, len } => {
                let mut copied = Vec::with_capacity(len as usize);
                for i in 0..len {
                    let field = self.fields[(start + i) as usize];
                    copied.push(Field {
                        key: field.key,
                        value: self.deep_copy(field.value),
                    });
                }
                let start = self.fields.len() as u32;
                self.fields.extend_from_slice(&copied);
                self.push(Node::Object { start, len })
            }
            scalar => self.push(scalar),
        }
    }

    /// Merges `source` into `target`: objects key by key, equal-length lists item by item;
    /// a null never replaces data another subgraph already provided, and an
    /// `@interfaceObject` subgraph's `__typename` (the interface's name) never replaces a
    /// concrete one. `source` is moved: it must not be reachable from anywhere else.
    pub fn merge(&mut self, schema: &SchemaIndex, target: NodeId, source: NodeId) {
        match (self.node(target), self.node(source)) {
            (Node::Object { start: ts, len: tl }, Node::Object { start: ss, len: sl }) => {
                if tl == 0 {
                    self.set(target, self.node(source));
                    return;
                }
                let pending_start = self.pending.len();
                for i in 0..sl {
                    let field = self.fields[(ss + i) as usize];
                    let existing = self.fields(ts, tl).iter().position(|f| {
                        f.key.len == field.key.len && self.bytes(f.key) == self.bytes(field.key)
                    });
                    match existing {
                        None => self.pending.push(field),
                        Some(j) => {
                            let existing = self.fields[(ts as usize) + j].value;
                            if self.bytes(field.key) == b"__typename" {
                                if self.replaces_typename(schema, existing, field.value) {
                                    self.set(existing, self.node(field.value));
                                }
                            } else {
                                self.merge(schema, existing, field.value);
                            }
                        }
                    }
                }
                if self.pending.len() > pending_start {
                    let start = self.fields.len() as u32;
                    self.fields
                        .extend_from_within(ts as usize..(ts + tl) as usize);
                    let added = self.pending.len() - pending_start;
                    self.fields.extend(self.pending.drain(pending_start..));
                    self.set(
                        target,
                        Node::Object {
                            start,
                            len: tl + added as u32,
                        },
                    );
                }
            }
            (Node::Array { start: ts, len: tl }, Node::Array { start: ss, len: sl })
                if tl == sl =>
            {
                for i in 0..tl {
                    let (t, s) = (self.items[(ts + i) as usize], self.items[(ss + i) as usize]);
                    self.merge(schema, t, s);
                }
            }
            (_, Node::Null) => {}
            (_, other) => self.set(target, other),
        }
    }

    /// Whether a merged `__typename` replaces the one there: not when it is null, and not
    /// an abstract type's name over a concrete one.
    fn replaces_typename(&self, schema: &SchemaIndex, existing: NodeId, new: NodeId) -> bool {
        let (Node::Str { s: new, .. }, old) = (self.node(new), self.node(existing)) else {
            return false;
        };
        let Node::Str { s: old, .. } = old else {
            return true;
        };
        let (new, old) = (self.text(new), self.text(old));
        let abstract_over_concrete = new != old
            && schema.get(new).is_some_and(|t| t.kind != TypeKind::Object)
            && schema.get(old).is_some_and(|t| t.kind == TypeKind::Object);
        !abstract_over_concrete
    }

    /// Writes the subtree at `id` as JSON.
    pub fn write_json(&self, id: NodeId, out: &mut Vec<u8>) {
        match self.node(id) {
            Node::Object { start, len } => {
                out.push(b'{');
                for (i, f) in self.fields(start, len).iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_escaped(out, self.text(f.key));
                    out.push(b':');
                    self.write_json(f.value, out);
                }
                out.push(b'}');
            }
            Node::Array { start, len } => {
                out.push(b'[');
                for (i, item) in self.items(start, len).iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_json(*item, out);
                }
                out.push(b']');
            }
            _ => self.write_scalar(id, out),
        }
    }

    /// Writes a scalar node (anything but an array or object).
    pub fn write_scalar(&self, id: NodeId, out: &mut Vec<u8>) {
        match self.node(id) {
            Node::Null => out.extend_from_slice(b"null"),
            Node::Bool(true) => out.extend_from_slice(b"true"),
            Node::Bool(false) => out.extend_from_slice(b"false"),
            Node::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            Node::UInt(u) => out.extend_from_slice(itoa::Buffer::new().format(u).as_bytes()),
            Node::Float(f) if f.is_finite() => {
                out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes())
            }
            Node::Float(_) => out.extend_from_slice(b"null"),
            Node::Str { s, raw: true } => {
                out.push(b'"');
                out.extend_from_slice(self.bytes(s));
                out.push(b'"');
            }
            Node::Str { s, raw: false } => write_escaped(out, self.text(s)),
            Node::Array { .. } | Node::Object { .. } => self.write_json(id, out),
        }
    }

    /// Bytes the response bodies took, to size the client response.
    pub fn input_bytes(&self) -> usize {
        self.bufs.iter().map(Bytes::len).sum()
    }
}

/// Writes `s` as a JSON string. serde_json's escaping is correct and table-driven; writing
/// to a `Vec` cannot fail.
pub(crate) fn write_escaped(out: &mut Vec<u8>, s: &str) {
    let _ = serde_json::to_writer(&mut *out, s);
}

// ------------------------------------------------------------------------------ parsing

/// Where a borrowed string sits in its buffer; strings that are not inside it (never the
/// case for the deserializers used here) are copied to the scratch space.
fn locate(tree: &mut Tree, buf: u32, base: &[u8], s: &str) -> Str {
    let offset = (s.as_ptr() as usize).wrapping_sub(base.as_ptr() as usize);
    if offset <= base.len() && offset + s.len() <= base.len() {
        Str {
            buf,
            start: offset as u32,
            len: s.len() as u32,
        }
    } else {
        tree.intern(s)
    }
}

struct ResponseSeed<'t, 'b> {
    tree: &'t mut Tree,
    buf: u32,
    base: &'b [u8],
}

impl<'de> DeserializeSeed<'de> for ResponseSeed<'_, '_> {
    type Value = Parsed;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Parsed, D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ResponseSeed<'_, '_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a GraphQL response object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut parsed = Parsed {
            data: None,
            errors: Vec::new(),
        };
        let mut seen_any = false;
        while let Some(key) = map.next_key::<ResponseKey>()? {
            match key {
                ResponseKey::Data => {
                    seen_any = true;
                    let id = map.next_value_seed(NodeSeed {
                        tree: self.tree,
                        buf: self.buf,
                        base: self.base,
                    })?;
                    parsed.data = (!self.tree.is_null(id)).then_some(id);
                }
                ResponseKey::Errors => {
                    seen_any = true;
                    let errors: Option<Vec<Value>> = map.next_value()?;
                    parsed.errors = errors.unwrap_or_default();
                }
                ResponseKey::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !seen_any {
            return Err(de::Error::custom("neither data nor errors"));
        }
        Ok(parsed)
    }
}

enum ResponseKey {
    Data,
    Errors,
    Other,
}

impl<'de> serde::Deserialize<'de> for ResponseKey {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = ResponseKey;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ResponseKey, E> {
                Ok(match v {
                    "data" => ResponseKey::Data,
                    "errors" => ResponseKey::Errors,
                    _ => ResponseKey::Other,
                })
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

struct NodeSeed<'t, 'b> {
    tree: &'t mut Tree,
    buf: u32,
    base: &'b [u8],
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_> {
    type Value = NodeId;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<NodeId, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_, '_> {
    type Value = NodeId;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::Null))
    }

    fn visit_none<E>(self) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::Null))
    }

    fn visit_bool<E>(self, v: bool) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::Bool(v)))
    }

    fn visit_i64<E>(self, v: i64) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::Int(v)))
    }

    fn visit_u64<E>(self, v: u64) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::UInt(v)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<NodeId, E> {
        Ok(self.tree.push(Node::Float(v)))
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<NodeId, E> {
        let s = locate(self.tree, self.buf, self.base, v);
        Ok(self.tree.push(Node::Str {
            s,
            raw: s.buf != SCRATCH,
        }))
    }

    fn visit_str<E>(self, v: &str) -> Result<NodeId, E> {
        // An escaped string, unescaped by the parser: it needs escaping again on output.
        let s = self.tree.intern(v);
        Ok(self.tree.push(Node::Str { s, raw: false }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NodeId, A::Error> {
        // Children are collected on a stack shared by every level (each level takes its
        // part off the top when it ends), so a list costs no allocation of its own.
        let mark = self.tree.stack_items.len();
        while let Some(id) = seq.next_element_seed(NodeSeed {
            tree: &mut *self.tree,
            buf: self.buf,
            base: self.base,
        })? {
            self.tree.stack_items.push(id);
        }
        let start = self.tree.items.len() as u32;
        let len = (self.tree.stack_items.len() - mark) as u32;
        self.tree.items.extend(self.tree.stack_items.drain(mark..));
        Ok(self.tree.push(Node::Array { start, len }))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NodeId, A::Error> {
        let mark = self.tree.stack_fields.len();
        while let Some(key) = map.next_key_seed(KeySeed {
            tree: &mut *self.tree,
            buf: self.buf,
            base: self.base,
        })? {
            let value = map.next_value_seed(NodeSeed {
                tree: &mut *self.tree,
                buf: self.buf,
                base: self.base,
            })?;
            self.tree.stack_fields.push(Field { key, value });
        }
        let start = self.tree.fields.len() as u32;
        let len = (self.tree.stack_fields.len() - mark) as u32;
        self.tree
            .fields
            .extend(self.tree.stack_fields.drain(mark..));
        Ok(self.tree.push(Node::Object { start, len }))
    }
}

struct KeySeed<'t, 'b> {
    tree: &'t mut Tree,
    buf: u32,
    base: &'b [u8],
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Str;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Str, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Str;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Str, E> {
        Ok(locate(self.tree, self.buf, self.base, v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Str, E> {
        Ok(self.tree.intern(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> SchemaIndex {
        SchemaIndex::new(
            &graphql_tools::parser::parse_schema::<String>(
                "type Query { a: Int } interface Media { id: ID } type Book implements Media { id: ID }",
            )
            .unwrap()
            .into_static(),
        )
    }

    fn parse(tree: &mut Tree, json: &str) -> NodeId {
        tree.parse_value(Bytes::from(json.to_owned())).unwrap()
    }

    fn json(tree: &Tree, id: NodeId) -> String {
        let mut out = Vec::new();
        tree.write_json(id, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn values_round_trip_and_strings_are_borrowed_unless_escaped() {
        let mut tree = Tree::default();
        let text = r#"{"a":[1,-2,3.5,true,null],"s":"plain","e":"say \"hi\"\n","u":"żółw","big":18446744073709551615,"o":{}}"#;
        let id = parse(&mut tree, text);
        assert_eq!(json(&tree, id), text);
        let Node::Str { raw, .. } = tree.node(tree.get(id, "s").unwrap()) else {
            panic!()
        };
        assert!(raw, "an unescaped string points into the body");
        let Node::Str { raw, .. } = tree.node(tree.get(id, "e").unwrap()) else {
            panic!()
        };
        assert!(
            !raw,
            "an escaped string is unescaped, and escaped again on output"
        );
    }

    #[test]
    fn merge_keeps_existing_data_and_merges_lists_by_position() {
        let schema = schema();
        let mut tree = Tree::default();
        let target = parse(
            &mut tree,
            r#"{"a":{"x":1},"list":[{"id":1},{"id":2}],"keep":5}"#,
        );
        let source = parse(
            &mut tree,
            r#"{"a":{"y":2},"list":[{"n":"a"},{"n":"b"}],"keep":null}"#,
        );
        tree.merge(&schema, target, source);
        assert_eq!(
            json(&tree, target),
            r#"{"a":{"x":1,"y":2},"list":[{"id":1,"n":"a"},{"id":2,"n":"b"}],"keep":5}"#
        );
        // The interface's name from an @interfaceObject subgraph does not hide the concrete
        // type; a concrete name does replace the interface's.
        let book = parse(&mut tree, r#"{"__typename":"Book","id":"1"}"#);
        let media = parse(&mut tree, r#"{"__typename":"Media","rating":4}"#);
        tree.merge(&schema, book, media);
        assert_eq!(
            json(&tree, book),
            r#"{"__typename":"Book","id":"1","rating":4}"#
        );
        let media = parse(&mut tree, r#"{"__typename":"Media","id":"1"}"#);
        let book = parse(&mut tree, r#"{"__typename":"Book","title":"Dune"}"#);
        tree.merge(&schema, media, book);
        assert_eq!(tree.typename(media), Some("Book"));
    }

    #[test]
    fn a_copy_is_independent_of_its_original() {
        let schema = schema();
        let mut tree = Tree::default();
        let original = parse(&mut tree, r#"{"p":{"name":"Table"}}"#);
        let copy = tree.deep_copy(original);
        let extra = parse(&mut tree, r#"{"p":{"price":1}}"#);
        tree.merge(&schema, copy, extra);
        assert_eq!(json(&tree, original), r#"{"p":{"name":"Table"}}"#);
        assert_eq!(json(&tree, copy), r#"{"p":{"name":"Table","price":1}}"#);
    }

    #[test]
    fn responses_without_data_or_errors_and_bad_json_are_errors() {
        let mut tree = Tree::default();
        for body in ["{}", "[1]", "{\"data\":", "nope", "{\"data\":{}} x"] {
            assert!(tree.parse_response(Bytes::from(body)).is_err(), "{body}");
        }
        let parsed = tree
            .parse_response(Bytes::from(r#"{"data":null,"errors":[{"message":"m"}]}"#))
            .unwrap();
        assert!(parsed.data.is_none());
        assert_eq!(parsed.errors.len(), 1);
    }
}
