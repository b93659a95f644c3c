//! Input coercion of variable values (GraphQL spec, "CoerceVariableValues"): each value must
//! fit its declared type before anything is planned or sent, so that a bad value is the
//! client's `BAD_USER_INPUT` at the router instead of a subgraph's validation error (or,
//! worse, an object smuggled where a scalar was declared).

use serde_json::Value;

use super::schema::{SchemaIndex, TypeKind, TypeRef};

/// Checks `value` against `ty`; the error names where (`$input.amount`) and what was wrong.
pub fn check(schema: &SchemaIndex, ty: &TypeRef, value: &Value, at: &str) -> Result<(), String> {
    match ty {
        TypeRef::NonNull(inner) => {
            if value.is_null() {
                return Err(format!("{at} must not be null"));
            }
            check(schema, inner, value, at)
        }
        _ if value.is_null() => Ok(()),
        TypeRef::List(inner) => match value {
            Value::Array(items) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, item)| check(schema, inner, item, &format!("{at}[{i}]"))),
            // A single value stands for a list of one.
            single => check(schema, inner, single, at),
        },
        TypeRef::Named(name) => named(schema, name, value, at),
    }
}

fn named(schema: &SchemaIndex, name: &str, value: &Value, at: &str) -> Result<(), String> {
    let fits = match name {
        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => value.is_number(),
        "String" => value.is_string(),
        "Boolean" => value.is_boolean(),
        "ID" => value.is_string() || value.is_i64() || value.is_u64(),
        _ => return custom(schema, name, value, at),
    };
    if fits {
        Ok(())
    } else {
        Err(format!("{at}: expected {name}, found {}", describe(value)))
    }
}

fn custom(schema: &SchemaIndex, name: &str, value: &Value, at: &str) -> Result<(), String> {
    let Some(ty) = schema.types.get(name) else {
        return Err(format!("{at}: unknown type {name}"));
    };
    match ty.kind {
        // Custom scalars (DateTime, …) are the subgraph's to parse.
        TypeKind::Scalar => Ok(()),
        TypeKind::Enum => match value.as_str() {
            Some(v) if ty.enum_values.iter().any(|e| e.name == v) => Ok(()),
            _ => Err(format!(
                "{at}: expected a value of enum {name}, found {}",
                describe(value)
            )),
        },
        TypeKind::InputObject => {
            let Value::Object(fields) = value else {
                return Err(format!(
                    "{at}: expected input object {name}, found {}",
                    describe(value)
                ));
            };
            if let Some(unknown) = fields
                .keys()
                .find(|k| !ty.input_fields.iter().any(|f| &f.name == *k))
            {
                return Err(format!("{at}: {name} has no field {unknown}"));
            }
            for field in &ty.input_fields {
                let at = format!("{at}.{}", field.name);
                match fields.get(&field.name) {
                    Some(v) => check(schema, &field.ty, v, &at)?,
                    None if field.ty.is_non_null() && field.default_value.is_none() => {
                        return Err(format!("{at} is required"));
                    }
                    None => {}
                }
            }
            if ty.one_of && fields.values().filter(|v| !v.is_null()).count() != 1 {
                return Err(format!("{at}: exactly one field of {name} must be given"));
            }
            Ok(())
        }
        _ => Err(format!("{at}: {name} is not an input type")),
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schema() -> SchemaIndex {
        let sdl = "type Query { a(x: In): Int } input In { id: ID! n: Int k: Kind = A list: [String!] } enum Kind { A B } scalar DateTime";
        let document = graphql_tools::parser::parse_schema::<String>(sdl).unwrap();
        SchemaIndex::new(&document)
    }

    fn ty(name: &str) -> TypeRef {
        TypeRef::NonNull(Box::new(TypeRef::Named(name.into())))
    }

    #[test]
    fn values_that_fit_pass() {
        let s = schema();
        for (t, v) in [
            ("ID", json!("abc")),
            ("ID", json!(7)),
            ("Int", json!(2147483647)),
            ("Float", json!(1.5)),
            ("Float", json!(2)),
            ("String", json!("x")),
            ("Boolean", json!(true)),
            ("Kind", json!("B")),
            ("DateTime", json!("2026-01-01T00:00:00Z")),
            ("In", json!({ "id": "1", "list": "one", "n": null })),
            ("In", json!({ "id": "1", "list": ["a", "b"], "k": "A" })),
        ] {
            assert_eq!(check(&s, &ty(t), &v, "$v"), Ok(()), "{t} {v}");
        }
        let list = TypeRef::List(Box::new(ty("Int")));
        assert_eq!(check(&s, &list, &json!([1, 2]), "$v"), Ok(()));
        assert_eq!(
            check(&s, &TypeRef::Named("Int".into()), &json!(null), "$v"),
            Ok(())
        );
    }

    #[test]
    fn values_that_do_not_fit_are_named() {
        let s = schema();
        for (t, v, message) in [
            (
                "ID",
                json!({ "$ne": null }),
                "$v: expected ID, found an object",
            ),
            ("ID", json!(1.5), "$v: expected ID, found a number"),
            (
                "Int",
                json!(2147483648u64),
                "$v: expected Int, found a number",
            ),
            ("Int", json!("1"), "$v: expected Int, found a string"),
            ("String", json!(["x"]), "$v: expected String, found a list"),
            (
                "Boolean",
                json!("true"),
                "$v: expected Boolean, found a string",
            ),
            ("ID", json!(null), "$v must not be null"),
            (
                "Kind",
                json!("C"),
                "$v: expected a value of enum Kind, found a string",
            ),
            (
                "In",
                json!("x"),
                "$v: expected input object In, found a string",
            ),
            ("In", json!({}), "$v.id is required"),
            (
                "In",
                json!({ "id": "1", "evil": 1 }),
                "$v: In has no field evil",
            ),
            (
                "In",
                json!({ "id": "1", "list": [null] }),
                "$v.list[0] must not be null",
            ),
        ] {
            assert_eq!(check(&s, &ty(t), &v, "$v"), Err(message.into()), "{t} {v}");
        }
    }
}
