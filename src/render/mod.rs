//! Renderers: pure functions of the report model (`crate::report`) into terminal text,
//! Markdown, JUnit XML and HTML pages. They compute nothing and read nothing else: a number
//! shown is the number the model holds.

pub mod cases;
pub mod html;
pub mod junit;
pub mod markdown;
pub mod matrix;
pub mod terminal;
