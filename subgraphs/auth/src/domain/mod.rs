//! Values that are valid by construction: parsing is the only way to get one.

mod email;
mod name;
mod password;

pub use email::Email;
pub use name::PersonName;
pub use password::Password;
pub use service_kit::jwt::Role;
