//! SPL front end, same shape as the other languages: [`macros`] (expansion as Splunk does it,
//! with a map back to the written search) → [`lexer`] (lossless tokens) → [`parser`] (pipeline,
//! [`commands`] registry with argument grammars and a generic fallback, [`search`] and [`eval`]
//! expression worlds, subsearches; errors located and recovered at the next command) → [`ast`]
//! (every node with its span) → [`lower`] (stages and predicates of the `ir` model).

pub mod ast;
pub mod commands;
pub mod eval;
pub mod lexer;
pub mod lower;
pub mod macros;
pub mod parser;
pub mod search;

pub use lower::{lower, lower_parsed, Lowered};
pub use macros::{Expanded, Macro, Macros};
pub use parser::parse;
