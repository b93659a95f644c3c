//! Variables: the client's values coerced against the operation's declared types:
//! defaults applied, every non-null variable present, every value of its type. A bad value
//! is `BAD_USER_INPUT` before any subgraph is asked.

use serde_json::{Map, Value};

use super::error::{RequestError, codes};
use crate::planner::{PreparedOperation, schema::SchemaIndex, variables};

/// Applies defaults, checks that every non-null variable has a value and that every value
/// fits its declared type.
pub fn coerce(
    schema: &SchemaIndex,
    prepared: &PreparedOperation,
    provided: Option<Value>,
) -> Result<Map<String, Value>, RequestError> {
    let mut provided = match provided {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(RequestError::bad_request(
                "variables must be a JSON object",
                codes::ErrorCode::BadUserInput.as_str(),
            ));
        }
    };
    let mut out = Map::new();
    for var in &prepared.variables {
        match provided.remove(&var.name) {
            Some(value) => {
                if value.is_null() && var.ty.is_non_null() {
                    return Err(RequestError::bad_request(
                        format!("variable ${} of type {} must not be null", var.name, var.ty),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                if let Err(reason) =
                    variables::check(schema, &var.ty, &value, &format!("${}", var.name))
                {
                    return Err(RequestError::bad_request(
                        format!("invalid variable: {reason}"),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                out.insert(var.name.clone(), value);
            }
            None => match &var.default {
                Some(default) => {
                    out.insert(var.name.clone(), default.clone());
                }
                None if var.ty.is_non_null() => {
                    return Err(RequestError::bad_request(
                        format!(
                            "variable ${} of required type {} was not provided",
                            var.name, var.ty
                        ),
                        codes::ErrorCode::BadUserInput.as_str(),
                    ));
                }
                None => {}
            },
        }
    }
    Ok(out)
}
