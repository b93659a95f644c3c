//! An index of the API schema (the supergraph as clients see it, `@inaccessible` parts
//! removed): field types for response projection and everything introspection answers.

use std::collections::{BTreeSet, HashMap};

use graphql_tools::static_graphql::schema::{
    Definition, Directive, Document, Field, InputValue, Type, TypeDefinition, Value,
};

/// A field or argument type with its list and non-null wrappers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeRef {
    Named(String),
    List(Box<TypeRef>),
    NonNull(Box<TypeRef>),
}

impl TypeRef {
    fn from_ast(ty: &Type) -> Self {
        match ty {
            Type::NamedType(name) => Self::Named(name.clone()),
            Type::ListType(inner) => Self::List(Box::new(Self::from_ast(inner))),
            Type::NonNullType(inner) => Self::NonNull(Box::new(Self::from_ast(inner))),
        }
    }

    pub fn named(&self) -> &str {
        match self {
            Self::Named(name) => name,
            Self::List(inner) | Self::NonNull(inner) => inner.named(),
        }
    }

    pub fn is_non_null(&self) -> bool {
        matches!(self, Self::NonNull(_))
    }
}

impl std::fmt::Display for TypeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Named(name) => f.write_str(name),
            Self::List(inner) => write!(f, "[{inner}]"),
            Self::NonNull(inner) => write!(f, "{inner}!"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    Scalar,
    Object,
    Interface,
    Union,
    Enum,
    InputObject,
}

impl TypeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "SCALAR",
            Self::Object => "OBJECT",
            Self::Interface => "INTERFACE",
            Self::Union => "UNION",
            Self::Enum => "ENUM",
            Self::InputObject => "INPUT_OBJECT",
        }
    }

    pub fn is_composite(self) -> bool {
        matches!(self, Self::Object | Self::Interface | Self::Union)
    }
}

#[derive(Debug, Clone)]
pub struct Deprecation {
    pub reason: Option<String>,
}

#[derive(Debug, Clone)]
pub struct InputValueInfo {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    /// The default as GraphQL source text, which is what introspection reports.
    pub default_value: Option<String>,
    pub deprecated: Option<Deprecation>,
}

#[derive(Debug, Clone)]
pub struct FieldInfo {
    pub name: String,
    pub description: Option<String>,
    pub ty: TypeRef,
    pub args: Vec<InputValueInfo>,
    pub deprecated: Option<Deprecation>,
}

#[derive(Debug, Clone)]
pub struct EnumValueInfo {
    pub name: String,
    pub description: Option<String>,
    pub deprecated: Option<Deprecation>,
}

#[derive(Debug, Clone)]
pub struct TypeInfo {
    pub name: String,
    pub kind: TypeKind,
    pub description: Option<String>,
    /// Object and interface fields in schema order.
    pub fields: Vec<FieldInfo>,
    field_index: HashMap<String, usize>,
    pub interfaces: Vec<String>,
    /// Union members; for interfaces, computed from the implementing objects.
    pub possible_types: BTreeSet<String>,
    pub enum_values: Vec<EnumValueInfo>,
    pub input_fields: Vec<InputValueInfo>,
    pub specified_by_url: Option<String>,
    pub one_of: bool,
}

impl TypeInfo {
    pub fn field(&self, name: &str) -> Option<&FieldInfo> {
        self.field_index.get(name).map(|&i| &self.fields[i])
    }
}

#[derive(Debug, Clone)]
pub struct DirectiveInfo {
    pub name: String,
    pub description: Option<String>,
    pub locations: Vec<String>,
    pub args: Vec<InputValueInfo>,
    pub repeatable: bool,
}

/// Directives of the federation specs that the planner's API schema keeps but clients
/// must not see (they are the router's business).
const SPEC_DIRECTIVES: [&str; 6] = [
    "link",
    "authenticated",
    "requiresScopes",
    "policy",
    "cost",
    "listSize",
];

/// A spec's namespaced type or directive (`join__FieldValue`, `policy__Policy`): not the
/// API's, though newer join versions leave some in the planner's API schema.
fn is_spec_element(name: &str) -> bool {
    !name.starts_with("__") && name.contains("__")
}

/// Each object, interface, scalar and enum of a schema document with its directives and
/// fields (none for scalars and enums): where the supergraph's access and cost directives
/// stand (`crate::authorization`, `crate::demand_control`).
pub(crate) fn directed_types(
    document: &Document,
) -> impl Iterator<Item = (&str, &[Directive], &[Field])> {
    document.definitions.iter().filter_map(|definition| {
        let Definition::TypeDefinition(ty) = definition else {
            return None;
        };
        Some(match ty {
            TypeDefinition::Object(o) => (o.name.as_str(), &o.directives[..], &o.fields[..]),
            TypeDefinition::Interface(i) => (i.name.as_str(), &i.directives[..], &i.fields[..]),
            TypeDefinition::Scalar(s) => (s.name.as_str(), &s.directives[..], &[][..]),
            TypeDefinition::Enum(e) => (e.name.as_str(), &e.directives[..], &[][..]),
            TypeDefinition::Union(_) | TypeDefinition::InputObject(_) => return None,
        })
    })
}

fn type_name(def: &TypeDefinition) -> &str {
    match def {
        TypeDefinition::Scalar(t) => &t.name,
        TypeDefinition::Object(t) => &t.name,
        TypeDefinition::Interface(t) => &t.name,
        TypeDefinition::Union(t) => &t.name,
        TypeDefinition::Enum(t) => &t.name,
        TypeDefinition::InputObject(t) => &t.name,
    }
}

/// The API schema, indexed.
#[derive(Debug, Clone)]
pub struct SchemaIndex {
    pub types: HashMap<String, TypeInfo>,
    /// Type names in the document's order, for a stable introspection result.
    pub type_order: Vec<String>,
    pub directives: Vec<DirectiveInfo>,
    pub query_type: String,
    pub mutation_type: Option<String>,
    pub subscription_type: Option<String>,
    pub description: Option<String>,
}

const BUILT_IN_SCALARS: [(&str, &str); 5] = [
    (
        "String",
        "The `String` scalar type represents textual data, represented as UTF-8 character sequences.",
    ),
    (
        "Int",
        "The `Int` scalar type represents non-fractional signed whole numeric values.",
    ),
    (
        "Float",
        "The `Float` scalar type represents signed double-precision fractional values.",
    ),
    (
        "Boolean",
        "The `Boolean` scalar type represents `true` or `false`.",
    ),
    ("ID", "The `ID` scalar type represents a unique identifier."),
];

impl SchemaIndex {
    pub fn new(document: &Document) -> Self {
        let mut index = Self {
            types: HashMap::new(),
            type_order: Vec::new(),
            directives: Vec::new(),
            query_type: "Query".into(),
            mutation_type: None,
            subscription_type: None,
            description: None,
        };
        let mut saw_schema_definition = false;
        for definition in &document.definitions {
            match definition {
                Definition::SchemaDefinition(schema) => {
                    saw_schema_definition = true;
                    if let Some(q) = &schema.query {
                        index.query_type = q.clone();
                    }
                    index.mutation_type = schema.mutation.clone();
                    index.subscription_type = schema.subscription.clone();
                }
                Definition::TypeDefinition(def) if !is_spec_element(type_name(def)) => {
                    index.add_type(def)
                }
                Definition::DirectiveDefinition(def)
                    if !is_spec_element(&def.name)
                        && !SPEC_DIRECTIVES.contains(&def.name.as_str()) =>
                {
                    index.directives.push(DirectiveInfo {
                        name: def.name.clone(),
                        description: def.description.clone(),
                        locations: def
                            .locations
                            .iter()
                            .map(|l| l.as_str().to_owned())
                            .collect(),
                        args: def.arguments.iter().map(input_value).collect(),
                        repeatable: def.repeatable,
                    })
                }
                Definition::TypeDefinition(_)
                | Definition::DirectiveDefinition(_)
                | Definition::TypeExtension(_) => {}
            }
        }
        if !saw_schema_definition {
            // Without a schema definition the conventional names are the root types.
            if index.types.contains_key("Mutation") {
                index.mutation_type = Some("Mutation".into());
            }
            if index.types.contains_key("Subscription") {
                index.subscription_type = Some("Subscription".into());
            }
        }
        for (name, description) in BUILT_IN_SCALARS {
            if !index.types.contains_key(name) {
                index.insert(TypeInfo {
                    name: name.into(),
                    kind: TypeKind::Scalar,
                    description: Some(description.into()),
                    fields: Vec::new(),
                    field_index: HashMap::new(),
                    interfaces: Vec::new(),
                    possible_types: BTreeSet::new(),
                    enum_values: Vec::new(),
                    input_fields: Vec::new(),
                    specified_by_url: None,
                    one_of: false,
                });
            }
        }
        index.add_built_in_directives();
        // Interfaces learn their implementations from the objects that declare them.
        let implementations: Vec<(String, String)> = index
            .types
            .values()
            .filter(|t| matches!(t.kind, TypeKind::Object | TypeKind::Interface))
            .flat_map(|t| {
                t.interfaces
                    .iter()
                    .map(move |i| (i.clone(), t.name.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        for (interface, implementor) in implementations {
            let is_object = index
                .types
                .get(&implementor)
                .is_some_and(|t| t.kind == TypeKind::Object);
            if let Some(t) = index.types.get_mut(&interface)
                && is_object
            {
                t.possible_types.insert(implementor);
            }
        }
        index
    }

    fn insert(&mut self, info: TypeInfo) {
        self.type_order.push(info.name.clone());
        self.types.insert(info.name.clone(), info);
    }

    fn add_type(&mut self, def: &TypeDefinition) {
        let blank = |name: &str, kind: TypeKind, description: &Option<String>| TypeInfo {
            name: name.to_owned(),
            kind,
            description: description.clone(),
            fields: Vec::new(),
            field_index: HashMap::new(),
            interfaces: Vec::new(),
            possible_types: BTreeSet::new(),
            enum_values: Vec::new(),
            input_fields: Vec::new(),
            specified_by_url: None,
            one_of: false,
        };
        let info = match def {
            TypeDefinition::Scalar(s) => {
                let mut t = blank(&s.name, TypeKind::Scalar, &s.description);
                t.specified_by_url =
                    directive(&s.directives, "specifiedBy").and_then(|d| string_arg(d, "url"));
                t
            }
            TypeDefinition::Object(o) => {
                let mut t = blank(&o.name, TypeKind::Object, &o.description);
                t.set_fields(&o.fields);
                t.interfaces = o.implements_interfaces.clone();
                t.possible_types.insert(o.name.clone());
                t
            }
            TypeDefinition::Interface(i) => {
                let mut t = blank(&i.name, TypeKind::Interface, &i.description);
                t.set_fields(&i.fields);
                t.interfaces = i.implements_interfaces.clone();
                t
            }
            TypeDefinition::Union(u) => {
                let mut t = blank(&u.name, TypeKind::Union, &u.description);
                t.possible_types = u.types.iter().cloned().collect();
                t
            }
            TypeDefinition::Enum(e) => {
                let mut t = blank(&e.name, TypeKind::Enum, &e.description);
                t.enum_values = e
                    .values
                    .iter()
                    .map(|v| EnumValueInfo {
                        name: v.name.clone(),
                        description: v.description.clone(),
                        deprecated: deprecation(&v.directives),
                    })
                    .collect();
                t
            }
            TypeDefinition::InputObject(i) => {
                let mut t = blank(&i.name, TypeKind::InputObject, &i.description);
                t.input_fields = i.fields.iter().map(input_value).collect();
                t.one_of = directive(&i.directives, "oneOf").is_some();
                t
            }
        };
        self.insert(info);
    }

    fn add_built_in_directives(&mut self) {
        let has = |name: &str, list: &[DirectiveInfo]| list.iter().any(|d| d.name == name);
        let bool_arg = |name: &str, description: &str| InputValueInfo {
            name: name.into(),
            description: Some(description.into()),
            ty: TypeRef::NonNull(Box::new(TypeRef::Named("Boolean".into()))),
            default_value: None,
            deprecated: None,
        };
        let field_locations = vec![
            "FIELD".to_owned(),
            "FRAGMENT_SPREAD".to_owned(),
            "INLINE_FRAGMENT".to_owned(),
        ];
        let mut builtins = vec![
            DirectiveInfo {
                name: "include".into(),
                description: Some("Directs the executor to include this field or fragment only when the `if` argument is true.".into()),
                locations: field_locations.clone(),
                args: vec![bool_arg("if", "Included when true.")],
                repeatable: false,
            },
            DirectiveInfo {
                name: "skip".into(),
                description: Some("Directs the executor to skip this field or fragment when the `if` argument is true.".into()),
                locations: field_locations,
                args: vec![bool_arg("if", "Skipped when true.")],
                repeatable: false,
            },
            DirectiveInfo {
                name: "deprecated".into(),
                description: Some("Marks an element of a GraphQL schema as no longer supported.".into()),
                locations: ["FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INPUT_FIELD_DEFINITION", "ENUM_VALUE"]
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                args: vec![InputValueInfo {
                    name: "reason".into(),
                    description: Some("Explains why this element was deprecated.".into()),
                    ty: TypeRef::Named("String".into()),
                    default_value: Some("\"No longer supported\"".into()),
                    deprecated: None,
                }],
                repeatable: false,
            },
            DirectiveInfo {
                name: "specifiedBy".into(),
                description: Some("Exposes a URL that specifies the behavior of this scalar.".into()),
                locations: vec!["SCALAR".into()],
                args: vec![InputValueInfo {
                    name: "url".into(),
                    description: Some("The URL that specifies the behavior of this scalar.".into()),
                    ty: TypeRef::NonNull(Box::new(TypeRef::Named("String".into()))),
                    default_value: None,
                    deprecated: None,
                }],
                repeatable: false,
            },
        ];
        builtins.retain(|d| !has(&d.name, &self.directives));
        self.directives.extend(builtins);
    }

    pub fn get(&self, name: &str) -> Option<&TypeInfo> {
        self.types.get(name)
    }

    /// Whether an object of type `runtime` is selected by a fragment on `condition`.
    pub fn type_matches(&self, runtime: &str, condition: &str) -> bool {
        runtime == condition
            || self
                .types
                .get(condition)
                .is_some_and(|t| t.possible_types.contains(runtime))
    }

    pub fn root_type(&self, kind: OperationType) -> Option<&str> {
        match kind {
            OperationType::Query => Some(&self.query_type),
            OperationType::Mutation => self.mutation_type.as_deref(),
            OperationType::Subscription => self.subscription_type.as_deref(),
        }
    }
}

impl TypeInfo {
    fn set_fields(&mut self, fields: &[Field]) {
        for field in fields {
            self.field_index
                .insert(field.name.clone(), self.fields.len());
            self.fields.push(FieldInfo {
                name: field.name.clone(),
                description: field.description.clone(),
                ty: TypeRef::from_ast(&field.field_type),
                args: field.arguments.iter().map(input_value).collect(),
                deprecated: deprecation(&field.directives),
            });
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationType {
    Query,
    Mutation,
    Subscription,
}

impl OperationType {
    pub fn is_mutation(self) -> bool {
        self == Self::Mutation
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Mutation => "mutation",
            Self::Subscription => "subscription",
        }
    }
}

fn input_value(v: &InputValue) -> InputValueInfo {
    InputValueInfo {
        name: v.name.clone(),
        description: v.description.clone(),
        ty: TypeRef::from_ast(&v.value_type),
        default_value: v.default_value.as_ref().map(|d| d.to_string()),
        deprecated: deprecation(&v.directives),
    }
}

fn directive<'a>(directives: &'a [Directive], name: &str) -> Option<&'a Directive> {
    directives.iter().find(|d| d.name == name)
}

fn string_arg(d: &Directive, name: &str) -> Option<String> {
    d.arguments.iter().find_map(|(arg, value)| match value {
        Value::String(s) if arg == name => Some(s.clone()),
        _ => None,
    })
}

fn deprecation(directives: &[Directive]) -> Option<Deprecation> {
    directive(directives, "deprecated").map(|d| Deprecation {
        reason: string_arg(d, "reason").or_else(|| Some("No longer supported".into())),
    })
}
